"""Contract tests of the original ORFEAS routes (``orfeas.api.routes_compat``, ``docs/compat.md``).

The shapes asserted are the original's documented ones (its Flask backend ``backend/main.py`` and
``backend/validation.py``): upload → ``job_id``; generate-3d ``{job_id, format, dimensions,
quality}`` → ``status: generating_3d``; job-status ``status/progress/step`` ending ``completed``
with ``download_url`` (or ``failed`` with ``error``); ``job_update`` events with the same data.
Files are always read over HTTP, so the tests hold whatever queue backend the service runs on.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trimesh
from fastapi.testclient import TestClient

from orfeas.api.compat_shapes import (
    QUALITY_FACES,
    Generate3DOut,
    JobStatusOut,
    TextToImageOut,
    UploadOut,
)
from orfeas.api.staging import expire_staged
from tests.conftest import require

pytestmark = pytest.mark.integration  # the whole service in-process: app, pool, pipeline

MakeClient = Callable[..., TestClient]
FINAL = {"completed", "failed"}


def upload(client: TestClient, data: bytes, name: str = "photo.png") -> httpx.Response:
    return client.post("/api/upload-image", files={"image": (name, data, "image/png")})


def wait_status(client: TestClient, job_id: str, limit_s: float = 180.0) -> dict[str, Any]:
    """Poll job-status as the original's front end did, until completed or failed."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = client.get(f"/api/job-status/{job_id}").json()
        if status["status"] in FINAL:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def assert_error(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error


def test_upload_generate_status_download(client: TestClient, small_png: bytes) -> None:
    up = upload(client, small_png)
    assert up.status_code == 200
    body = up.json()
    UploadOut.model_validate(body)  # the documented schema is what is sent
    job_id = body["job_id"]
    assert body["status"] == "uploaded" and body["original_filename"] == "photo.png"
    assert body["image_info"]["size"] == [128, 128] and body["image_info"]["format"] == "PNG"
    assert body["preview_url"] == f"/api/preview/{job_id}.png"
    preview = client.get(body["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    waiting = client.get(f"/api/job-status/{job_id}").json()
    assert waiting["status"] == "uploaded" and waiting["progress"] == 0

    started = client.post(
        "/api/generate-3d",
        json={"job_id": job_id, "format": "stl", "quality": 1, "dimensions": {"width": 50, "height": 40}},
    )
    assert started.status_code == 200, started.text
    out = started.json()
    Generate3DOut.model_validate(out)
    assert out["job_id"] == job_id and out["status"] == "generating_3d" and out["format"] == "stl"
    assert out["quality"] == 1 and out["dimensions"]["width"] == 50
    assert out["params"].items() >= {"target_faces": QUALITY_FACES[1], "size_mm": 50.0}.items()
    assert out["download_url"] == f"/api/download/{job_id}/model.stl"

    done = wait_status(client, job_id)
    JobStatusOut.model_validate(done)
    JobStatusOut.model_validate(waiting)
    assert done["status"] == "completed" and done["progress"] == 100 and done["state"] == "succeeded"
    assert done["output_file"] == "model.stl" and done["download_url"] == out["download_url"]
    assert [f["name"] for f in done["files"]] == ["model.stl"] and done["printable"] is True

    stl = client.get(done["download_url"])
    assert stl.status_code == 200 and stl.headers["content-type"] == "model/stl"
    mesh = trimesh.load(io.BytesIO(stl.content), file_type="stl")
    assert mesh.is_watertight and max(mesh.extents) == pytest.approx(50, rel=0.02)
    # the original's file name, and its dashed job ids, still find the file and the job
    assert client.get(f"/api/download/{job_id}/model_{job_id}.stl").content == stl.content
    dashed = str(uuid.UUID(job_id))
    assert client.get(f"/api/job-status/{dashed}").json()["status"] == "completed"
    # a thin layer: it is the v1 job, same id, same files
    v1 = client.get(f"/api/v1/jobs/{job_id}").json()
    assert v1["state"] == "succeeded" and v1["params"] == out["params"]
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/model.stl").content == stl.content
    assert (
        client.get(body["preview_url"]).content
        == client.get(f"/api/v1/jobs/{job_id}/artifacts/input.png").content
    )
    assert_error(client.get(f"/api/download/{job_id}/model.obj"), 404, "not_found", "filename")
    assert_error(client.get(f"/api/download/{job_id}/..%2Fjob.json"), 404)


def test_asking_again_answers_or_refuses(client: TestClient, small_png: bytes) -> None:
    job_id = upload(client, small_png).json()["job_id"]
    first = client.post("/api/generate-3d", json={"job_id": job_id, "format": "glb", "quality": 1})
    assert first.status_code == 200
    again = client.post("/api/generate-3d", json={"job_id": job_id, "format": "glb", "quality": 1})
    assert again.status_code == 200 and again.json()["job_id"] == job_id
    assert_error(client.post("/api/generate-3d", json={"job_id": job_id, "format": "stl"}), 409, "conflict")
    assert_error(
        client.post("/api/generate-3d", json={"job_id": job_id, "format": "glb", "quality": 2}),
        409,
        "conflict",
    )
    assert wait_status(client, job_id)["status"] == "completed"
    assert client.get("/api/v1/jobs").json()["total"] == 1


def test_the_result_cache_answers_an_identical_request(make_client: MakeClient, small_png: bytes) -> None:
    client = make_client(cache_enabled=True)
    request = {"format": "stl", "quality": 1}
    first = upload(client, small_png).json()["job_id"]
    client.post("/api/generate-3d", json={"job_id": first, **request})
    assert wait_status(client, first)["cached"] is False
    second = upload(client, small_png, "again.png").json()["job_id"]
    answered = client.post("/api/generate-3d", json={"job_id": second, **request}).json()
    assert answered["job_id"] == second and answered["cached"] is True and answered["status"] == "completed"
    status = client.get(f"/api/job-status/{second}").json()
    assert status["status"] == "completed" and status["cached"] is True
    same = client.get(status["download_url"]).content
    assert same == client.get(f"/api/download/{first}/model.stl").content


def test_job_updates_stream_ends_with_the_final_state(client: TestClient, small_png: bytes) -> None:
    job_id = upload(client, small_png).json()["job_id"]
    with client.stream("GET", f"/api/job-updates/{job_id}") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        staged = [line for line in stream.iter_lines() if line]
    assert staged[0] == "event: job_update" and json.loads(staged[1][6:])["status"] == "uploaded"

    client.post("/api/generate-3d", json={"job_id": job_id, "quality": 1})
    events, updates = [], []
    with client.stream("GET", f"/api/job-updates/{job_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: "):
                updates.append(json.loads(line[6:]))
    assert set(events) == {"job_update"} and len(events) == len(updates) >= 2
    assert all(u["job_id"] == job_id for u in updates)
    progress = [u["progress"] for u in updates]
    assert progress == sorted(progress) and all(0 <= p <= 100 for p in progress)
    last = updates[-1]
    assert last["status"] == "completed" and last["progress"] == 100
    assert last["download_url"] == f"/api/download/{job_id}/model.stl"
    assert last == client.get(f"/api/job-status/{job_id}").json()


def test_text_to_image_without_a_model_is_typeset_and_says_so(client: TestClient) -> None:
    made = client.post("/api/text-to-image", json={"prompt": "ORFEAS", "style": "fantasy"})
    assert made.status_code == 200, made.text
    body = made.json()
    TextToImageOut.model_validate(body)
    assert body["status"] == "completed" and body["progress"] == 100 and body["method"] == "lettering"
    assert "typeset" in body["message"] and "ORFEAS_DIFFUSION_MODEL_DIR" in body["message"]
    job_id = body["job_id"]
    assert client.get(body["preview_url"]).headers["content-type"] == "image/png"
    status = client.get(f"/api/job-status/{job_id}").json()
    assert status["status"] == "completed" and status["type"] == "text_to_image"

    started = client.post(
        "/api/generate-3d",
        json={"job_id": job_id, "quality": 1, "dimensions": {"width": 60, "height": 20, "depth": 3}},
    )
    assert started.status_code == 200, started.text
    # Typeset text makes an extruded name plate (v1's rule).
    wanted = {"mode": "extrude", "target_faces": 2000, "size_mm": 60, "depth_mm": 3}
    assert started.json()["params"].items() >= wanted.items()
    assert wait_status(client, job_id)["status"] == "completed"
    v1 = client.get(f"/api/v1/jobs/{job_id}").json()
    assert (v1["input"]["kind"], v1["input"]["text"]) == ("text", "ORFEAS")  # a v1 text job

    asked = client.post("/api/text-to-image", json={"prompt": "a fox", "method": "diffusion"})
    assert_error(asked, 422, "engine_unavailable", "method")
    plain = client.post("/api/text-to-image", json={"prompt": "a fox", "method": "lettering"}).json()
    assert (
        plain["method"] == "lettering"
        and plain["message"] == "The prompt was typeset as lettering, as asked."
    )


@pytest.fixture
def diffusion_client(
    make_client: MakeClient, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """A service with a tiny random diffusion pipeline (the engine reads the process settings)."""
    from orfeas.engines import gpu

    for package in ("torch", "diffusers", "transformers"):
        require(gpu.installed(package), f"{package} is not installed (extra 'diffusion')")
    from tests.engines import tiny_models

    folder = tiny_models.build_diffusion(tmp_path_factory.mktemp("diffusion") / "pipeline")
    monkeypatch.setenv("ORFEAS_DIFFUSION_MODEL_DIR", str(folder))
    monkeypatch.setenv("ORFEAS_ALLOW_CPU", "true")
    yield make_client(diffusion_model_dir=folder, allow_cpu=True)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_text_to_image_with_a_diffusion_model(diffusion_client: TestClient) -> None:
    made = diffusion_client.post(
        "/api/text-to-image", json={"prompt": "a red fox", "width": 75, "height": 64, "steps": 2}
    )
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["method"] == "diffusion" and (body["width"], body["height"]) == (72, 64)  # multiples of 8
    job_id = body["job_id"]
    started = diffusion_client.post("/api/generate-3d", json={"job_id": job_id, "quality": 1})
    assert started.status_code == 200 and started.json()["params"]["mode"] == "puffy"  # not a plate
    assert wait_status(diffusion_client, job_id)["status"] in FINAL
    assert diffusion_client.get(f"/api/v1/jobs/{job_id}").json()["input"]["kind"] == "image"


def test_bad_inputs_are_4xx_and_store_nothing(make_client: MakeClient, small_png: bytes) -> None:
    client = make_client(max_text_chars=40)
    missing = uuid.uuid4().hex
    assert_error(upload(client, b"not an image at all"), 415, "unsupported_type", "image")
    assert_error(upload(client, b""), 422, "empty", "image")
    assert_error(
        client.post("/api/upload-image", files={"picture": ("a.png", small_png)}), 422, "empty", "image"
    )
    assert_error(client.post("/api/upload-image", json={"image": "x"}), 415, field="content-type")
    generate = [
        ({"job_id": missing}, 404, "job_id"),
        ({"job_id": "../../etc/passwd"}, 404, "job_id"),
        ({"format": "stl"}, 422, "job_id"),
        ({"job_id": missing, "format": "fbx"}, 422, "format"),
        ({"job_id": missing, "quality": 0}, 422, "quality"),
        ({"job_id": missing, "quality": 11}, 422, "quality"),
        ({"job_id": missing, "quality": "best"}, 422, "quality"),
        ({"job_id": missing, "dimensions": {"width": -1, "height": 10}}, 422, "dimensions.width"),
        ([missing], 422, None),
    ]
    for body, status, field in generate:
        assert_error(client.post("/api/generate-3d", json=body), status, field=field)
    quality = client.post("/api/generate-3d", json={"job_id": missing, "quality": 0}).json()["error"][
        "message"
    ]
    assert "1 (fast, coarse) to 10 (slow, fine)" in quality
    assert_error(
        client.post("/api/generate-3d", content=b"{", headers={"content-type": "application/json"}), 400
    )
    staged = upload(client, small_png).json()["job_id"]
    too_big = {"job_id": staged, "dimensions": {"width": 900, "height": 10}}
    assert_error(client.post("/api/generate-3d", json=too_big), 422, "invalid_parameter", "dimensions.width")
    texts = [
        ({}, 422, "prompt"),
        ({"prompt": ""}, 422, "prompt"),
        ({"prompt": "   "}, 422, "prompt"),
        ({"prompt": "x" * 41}, 422, "prompt"),
        ({"prompt": "fox", "style": "baroque"}, 422, "style"),
        ({"prompt": "fox", "width": 10}, 422, "width"),
    ]
    for body, status, field in texts:
        assert_error(client.post("/api/text-to-image", json=body), status, field=field)
    for path in (
        f"/api/job-status/{missing}",
        f"/api/job-updates/{missing}",
        f"/api/download/{missing}/model.stl",
    ):
        assert_error(client.get(path), 404, "not_found", "job_id")
    assert_error(client.get(f"/api/download/{staged}/model.stl"), 404, "not_found", "job_id")
    assert_error(client.get("/api/preview/nothing.png"), 404, "not_found")
    assert client.get("/api/v1/jobs").json()["total"] == 0  # no job was made by any of these
    uploads = client.data_dir / "uploads"  # type: ignore[attr-defined]
    assert sorted(p.name for p in uploads.iterdir()) == [f"{staged}.json", f"{staged}.png"]


def test_staged_pictures_expire(client: TestClient, small_png: bytes) -> None:
    job_id = upload(client, small_png).json()["job_id"]
    settings = client.app.state.runtime.settings
    assert expire_staged(settings) == []
    later = time.time() + settings.retention_hours * 3600 + 1
    assert expire_staged(settings, now=later) == [job_id]
    assert_error(client.get(f"/api/job-status/{job_id}"), 404, "not_found")
    gone = client.post("/api/generate-3d", json={"job_id": job_id})
    assert_error(gone, 404, "not_found", "job_id")
    assert "upload it again" in gone.json()["error"]["message"]
    assert not any(Path(settings.data_dir, "uploads").iterdir())


def test_keys_and_rate_limits_cover_the_compat_routes(make_client: MakeClient, small_png: bytes) -> None:
    locked = make_client(api_keys="k-one")
    for path in (
        "/api/job-status/x",
        "/api/job-updates/x",
        "/api/download/x/model.stl",
        "/api/preview/x.png",
    ):
        assert_error(locked.get(path), 401, "unauthorized")
    assert_error(upload(locked, small_png), 401, "unauthorized")
    assert_error(locked.post("/api/generate-3d", json={"job_id": "x"}), 401, "unauthorized")
    assert_error(locked.post("/api/text-to-image", json={"prompt": "x"}), 401, "unauthorized")
    key = {"X-API-Key": "k-one"}
    assert (
        locked.post("/api/upload-image", files={"image": ("a.png", small_png)}, headers=key).status_code
        == 200
    )

    limited = make_client(rate_limit_submissions_per_minute=1)
    assert limited.post("/api/text-to-image", json={"prompt": "A"}).status_code == 200
    assert_error(limited.post("/api/generate-3d", json={"job_id": "x"}), 429, "rate_limited")
    assert upload(limited, small_png).status_code == 200  # uploads count as plain requests
