"""The HTTP API in-process (TestClient): shapes, validation, listing, cancel/delete, health, headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orfeas.api import create_app
from orfeas.api.schemas import EngineList, JobList, JobOut, LegacyHealth, ModelsInfo, Readiness
from orfeas.mesh.exchange import FORMATS
from tests.api.conftest import FAST, app_settings, job_files, wait_job

pytestmark = pytest.mark.integration  # the whole service in-process: app, pool, pipeline

MakeClient = Callable[..., TestClient]


def submit(client: TestClient, png: bytes, **fields: str) -> Any:
    data = {**FAST, "formats": "stl,glb", **fields}
    return client.post("/api/v1/jobs", files={"image": ("disc.png", png, "image/png")}, data=data)


def test_submit_image_runs_and_serves_files(client: TestClient, small_png: bytes) -> None:
    response = submit(client, small_png, mode="relief", params=json.dumps({"size_mm": 40}))
    assert response.status_code == 202
    job = response.json()
    JobOut.model_validate(job)
    assert response.headers["location"] == f"/api/v1/jobs/{job['id']}" == job["links"]["self"]
    assert job["state"] in ("queued", "running") and job["engine"] == "relief"
    # typed, with every default filled in (what the job really uses)
    assert job["params"].items() >= {"mode": "relief", "size_mm": 40.0, "target_faces": 2000}.items()
    assert job["params"]["depth_mm"] == 4.0
    assert job["input"] == {"kind": "image", "text": None, "filename": "disc.png", "text_to_image": None}
    assert job["links"]["events"].endswith("/events")

    done = wait_job(client.get, job["id"])
    JobOut.model_validate(done)
    assert done["state"] == "succeeded" and done["progress"] == 1.0 and done["error"] is None
    assert done["report"]["watertight"] is True and set(done["timings"]) >= {"mesh", "verify"}
    assert [a["name"] for a in done["artifacts"]] == ["model.stl", "model.glb"]
    for artifact in done["artifacts"]:
        got = client.get(artifact["url"])
        assert got.status_code == 200 and len(got.content) == artifact["size"]
        assert got.headers["content-type"] == artifact["content_type"]
        assert got.headers["content-disposition"].startswith("attachment;")
        assert artifact["name"] in got.headers["content-disposition"]
    source = client.get(done["links"]["input"])
    assert source.status_code == 200 and source.headers["content-type"] == "image/png"
    assert source.content.startswith(b"\x89PNG")


def test_submit_text_as_json(client: TestClient) -> None:
    response = client.post(
        "/api/v1/jobs",
        json={
            "text": "HI",
            "params": {"target_faces": 2000},
            "lettering": {"border_px": 6},  # 4 would vanish in the engine (IoU 0.64), now refused
            "formats": ["stl"],
        },
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["input"] == {"kind": "text", "text": "HI", "filename": None, "text_to_image": None}
    assert job["params"].items() >= {"target_faces": 2000, "mode": "extrude"}.items()  # a name plate
    done = wait_job(client.get, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert [a["format"] for a in done["artifacts"]] == ["stl"]
    assert client.get(done["links"]["input"]).status_code == 200  # the typeset text


def test_text_in_a_form_and_default_formats(client: TestClient) -> None:
    response = client.post("/api/v1/jobs", data={"text": "A", **FAST}, files={"unused": ("", b"")})
    assert response.status_code == 422  # a second file field is refused
    response = client.post("/api/v1/jobs", files={"text": (None, "A"), "target_faces": (None, "2000")})
    assert response.status_code == 202, response.text
    done = wait_job(client.get, response.json()["id"])
    assert [a["format"] for a in done["artifacts"]] == list(FORMATS)


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"engine": "nope"}, 422, "unknown_engine", "engine"),
        ({"mode": "bogus"}, 422, "invalid_parameter", "mode"),
        ({"size_mm": "1"}, 422, "invalid_parameter", "size_mm"),
        ({"colour": "red"}, 422, "invalid_parameter", "colour"),
        ({"params": "{not json"}, 422, "invalid_parameter", "params"),
        ({"params": "[1, 2]"}, 422, "invalid_parameter", "params"),
        ({"formats": "stl,dwg"}, 422, "invalid_parameter", "formats"),
        ({"formats": ","}, 422, "invalid_parameter", "formats"),
        ({"text": "also text"}, 422, "invalid_parameter", "text"),
        ({"image": "not a file"}, 422, "invalid_parameter", "image"),
    ],
)
def test_bad_parameters_are_422_with_the_field(
    client: TestClient, small_png: bytes, fields: dict[str, str], status: int, code: str, field: str
) -> None:
    fields = dict(fields)  # the parametrised dict is shared by both backends' runs
    files: dict[str, Any] = {"image": ("disc.png", small_png, "image/png")}
    if "image" in fields:  # a plain form field called image: still multipart, but not a file
        files = {"image": (None, fields.pop("image"))}
    response = client.post("/api/v1/jobs", files=files, data={**FAST, **fields})
    assert response.status_code == status, response.text
    assert response.json() == {
        "error": {"code": code, "message": response.json()["error"]["message"], "field": field}
    }
    assert client.get("/api/v1/jobs").json()["total"] == 0
    assert job_files(client.data_dir) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"text": ""}, 422, "text"),
        ({"text": "x" * 201}, 422, "text"),
        ({"text": "bell\x07"}, 422, "text"),
        ({"text": "A", "colour": 1}, 422, "colour"),
        ({"text": "A", "formats": []}, 422, "formats"),
        ({"text": "A", "formats": ["dwg"]}, 422, "formats.0"),
        ({"text": "A", "lettering": {"font_path": "/etc/passwd"}}, 422, "lettering.font_path"),
        ({"text": "A", "lettering": {"size_px": 1}}, 422, "lettering.size_px"),
        ({"text": "A", "params": {"mode": "nope"}}, 422, "mode"),
        ({"text": "A", "engine": "nope"}, 422, "engine"),
        ([1, 2], 422, None),
    ],
)
def test_bad_text_jobs(client: TestClient, body: Any, status: int, field: str | None) -> None:
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field
    assert client.get("/api/v1/jobs").json()["total"] == 0
    assert job_files(client.data_dir) == []  # type: ignore[attr-defined]


def test_malformed_bodies(client: TestClient) -> None:
    bad_json = client.post("/api/v1/jobs", content=b"{oops", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "bad_request"
    no_type = client.post("/api/v1/jobs", content=b"hello", headers={"content-type": "text/plain"})
    assert no_type.status_code == 415 and no_type.json()["error"]["field"] == "content-type"
    broken = client.post(
        "/api/v1/jobs",
        content=b"--x\r\nnonsense",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code in (400, 422) and "error" in broken.json()
    empty = client.post("/api/v1/jobs", files={"engine": (None, "relief")})
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "image"
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_list_pages_and_filters(client: TestClient) -> None:
    client.app.state.runtime.jobs.queue.stop()  # nothing runs: every job stays queued
    ids = [
        client.post("/api/v1/jobs", json={"text": f"N{i}", "formats": ["stl"]}).json()["id"] for i in range(3)
    ]
    page = client.get("/api/v1/jobs", params={"limit": 2}).json()
    JobList.model_validate(page)
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]  # newest first
    rest = client.get("/api/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]]
    assert client.get("/api/v1/jobs", params={"state": "queued"}).json()["total"] == 3
    assert client.get("/api/v1/jobs", params={"state": "succeeded"}).json() == {
        "items": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
    }
    bad = client.get("/api/v1/jobs", params={"state": "sleeping"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "state"
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert client.get("/api/v1/jobs", params=params).status_code == 422


def test_unknown_jobs_and_routes_are_404_in_the_error_shape(client: TestClient) -> None:
    for url in ("/api/v1/jobs/nope", "/api/v1/jobs/nope/events", "/api/v1/jobs/nope/artifacts/model.stl"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.delete("/api/v1/jobs/nope").status_code == 404
    assert client.get("/api/v2/nothing").json() == {
        "error": {"code": "not_found", "message": "Not Found", "field": None}
    }
    wrong = client.put("/api/v1/jobs")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_delete_cancels_queued_and_deletes_finished_jobs(client: TestClient, small_png: bytes) -> None:
    finished = submit(client, small_png).json()
    wait_job(client.get, finished["id"])
    client.app.state.runtime.jobs.queue.stop()
    queued = submit(client, small_png).json()

    cancel = client.delete(f"/api/v1/jobs/{queued['id']}")
    assert cancel.status_code == 202
    assert cancel.json()["state"] == "cancelled" and cancel.json()["error"]["code"] == "cancelled"
    JobOut.model_validate(cancel.json())

    gone = client.delete(f"/api/v1/jobs/{finished['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert client.get(f"/api/v1/jobs/{finished['id']}").status_code == 404
    assert not (client.data_dir / "jobs" / finished["id"]).exists()  # type: ignore[attr-defined]
    assert client.delete(f"/api/v1/jobs/{queued['id']}").status_code == 204  # now finished: deleted


def test_full_queue_is_503_with_retry_after(make_client: MakeClient, small_png: bytes) -> None:
    client = make_client(queue_size=1)
    client.app.state.runtime.jobs.queue.stop()
    assert submit(client, small_png).status_code == 202
    for attempt in (
        lambda: submit(client, small_png),
        lambda: client.post("/api/v1/jobs", json={"text": "A"}),
    ):
        full = attempt()
        assert full.status_code == 503
        assert full.json()["error"]["code"] == "queue_full" and int(full.headers["retry-after"]) >= 1
    assert client.get("/api/v1/jobs").json()["total"] == 1
    assert len(job_files(client.data_dir)) == 1  # type: ignore[attr-defined]  # the first job's input


def test_events_stream_current_state_then_changes(client: TestClient, small_png: bytes) -> None:
    job = submit(client, small_png).json()
    messages = []
    with client.stream("GET", job["links"]["events"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert event == "job"
                messages.append(json.loads(line.removeprefix("data: ")))
    assert messages[0]["state"] in ("queued", "running")
    assert messages[-1]["state"] == "succeeded" and messages[-1]["artifacts"]
    progress = [m["progress"] for m in messages]
    assert progress == sorted(progress)
    # a client connecting after the end gets the final state once
    with client.stream("GET", job["links"]["events"]) as late:
        data = [line for line in late.iter_lines() if line.startswith("data: ")]
    assert len(data) == 1 and json.loads(data[0][6:])["state"] == "succeeded"


def test_engines(client: TestClient) -> None:
    body = client.get("/api/v1/engines").json()
    EngineList.model_validate(body)
    relief = next(e for e in body["engines"] if e["name"] == "relief")
    assert relief["available"] is True and relief["reason"] is None
    assert relief["parameters"]["properties"]["mode"]["enum"] == [
        "puffy",
        "relief",
        "extrude",
        "keychain",
        "lithophane",
        "heightmap",
        "revolve",
    ]
    assert body["default"] == "relief"
    assert body["mesh_doctor"]["tasks"] == ["analyze", "repair"]
    units = body["mesh_doctor"]["parameters"]["properties"]["units"]
    assert units["anyOf"][0]["enum"] == ["mm", "cm", "m", "in"]
    assert body["limits"] == {
        "max_upload_bytes": 25 * 1024 * 1024,
        "max_image_pixels": 40_000_000,
        "max_text_chars": 200,
        "max_model_bytes": 100 * 1024 * 1024,
        "max_model_faces": 2_000_000,
    }


def test_health_routes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = Readiness.model_validate(ready.json())
    assert body.status == "ready" and set(body.checks) == {"store", "workers", "disk_budget", "disk_free"}
    health = client.get("/api/health").json()
    LegacyHealth.model_validate(health)
    assert health["status"] == "online" and health["models_ready"] is True and health["device"] == "cpu"
    assert health["engines"]["relief"] is True
    info = client.get("/api/models-info").json()
    ModelsInfo.model_validate(info)
    relief = next(m for m in info["models"] if m["name"] == "relief")
    assert relief["loaded"] is True and relief["available"] is True and relief["reason"] is None
    assert all(m["reason"] for m in info["models"] if not m["available"])  # unavailable says why


def test_readiness_fails_without_workers_or_over_budget(make_client: MakeClient, small_png: bytes) -> None:
    client = make_client(disk_budget_bytes=0)
    job = submit(client, small_png).json()
    wait_job(client.get, job["id"])
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["disk_budget"]["ok"] is False
    client.app.state.runtime.jobs.queue.stop()
    checks = client.get("/readyz").json()["checks"]
    assert checks["workers"]["ok"] is False
    assert client.get("/api/health").json()["status"] == "degraded"


def test_retention_expires_and_prunes(make_client: MakeClient, small_png: bytes, caplog: Any) -> None:
    client = make_client(disk_budget_bytes=0)
    job = submit(client, small_png).json()
    wait_job(client.get, job["id"])
    with caplog.at_level("INFO", logger="orfeas.jobs.store"):
        expired, pruned = client.app.state.runtime.retention()
    assert expired == [] and pruned == [job["id"]]
    assert "pruned 1" in caplog.text
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404


def test_security_headers_on_every_response(client: TestClient, small_png: bytes) -> None:
    for response in (
        client.get("/api/v1/engines"),
        client.get("/api/v1/jobs/missing"),
        client.post("/api/v1/jobs", data={"mode": "x"}),
        client.get("/healthz"),
        client.get("/openapi.json"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    docs = client.get("/docs").headers["content-security-policy"]  # served from /static: no CDN
    assert "default-src 'self'" in docs and "http" not in docs and "unsafe-inline" not in docs


def test_studio_page_and_its_csp(tmp_path: Path) -> None:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    inline = '{"imports": {"three": "./static/vendor/three.module.js"}}'
    (static / "index.html").write_text(
        f'<!doctype html><script type="importmap">{inline}</script>'
        '<script type="module" src="static/js/m.js"></script>'
    )
    (static / "js" / "m.js").write_text("export {};")
    app = create_app(app_settings(tmp_path / "data"), static_dir=static)
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        import base64
        import hashlib

        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
        for directive in (
            "default-src 'self'",
            "img-src 'self' blob: data:",
            "connect-src 'self' blob: data:",
        ):
            assert directive in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        script = client.get("/static/js/m.js")
        assert script.status_code == 200 and "default-src 'self'" in script.headers["content-security-policy"]
        assert "/" not in client.get("/openapi.json").json()["paths"]
    without = create_app(app_settings(tmp_path / "data2"), static_dir=tmp_path / "nowhere")
    with TestClient(without) as client:
        assert client.get("/").status_code == 404


def test_cors_is_off_unless_configured(make_client: MakeClient) -> None:
    preflight = {"Origin": "https://maker.example", "Access-Control-Request-Method": "POST"}
    closed = make_client()
    response = closed.options("/api/v1/jobs", headers=preflight)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in closed.get("/api/v1/engines", headers=preflight).headers

    opened = make_client(cors_origins="https://maker.example")
    response = opened.options("/api/v1/jobs", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://maker.example"
    other = opened.get("/api/v1/engines", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_openapi_documents_every_operation_and_error(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/events",
        "/api/v1/jobs/{job_id}/artifacts/{name}",
        "/api/v1/engines",
        "/healthz",
        "/readyz",
        "/api/health",
        "/api/models-info",
        # the original ORFEAS routes (tests/api/test_compat.py)
        "/api/upload-image",
        "/api/text-to-image",
        "/api/generate-3d",
        "/api/job-status/{job_id}",
        "/api/job-updates/{job_id}",
        "/api/download/{job_id}/{filename}",
        "/api/preview/{filename}",
    }
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path.startswith("/api/v1") or path == "/api/models-info":
                assert {"401", "429"} <= set(responses), (method, path)
            for status, entry in responses.items():
                if int(status) >= 400 and path != "/readyz":
                    schema = entry["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            if "{job_id}" in path:
                assert "404" in responses
    submit_op = paths["/api/v1/jobs"]["post"]
    assert {"400", "413", "415", "422", "503"} <= set(submit_op["responses"])
    assert "Retry-After" in submit_op["responses"]["503"]["headers"]
    assert set(submit_op["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert "Location" in submit_op["responses"]["202"]["headers"]
    assert set(paths["/api/v1/jobs/{job_id}"]["delete"]["responses"]) >= {"202", "204", "404"}


def test_hooks_see_jobs_uploads_downloads_and_rejections(client: TestClient, small_png: bytes) -> None:
    hooks = client.app.state.hooks
    seen: dict[str, list[Any]] = {"job": [], "reject": [], "upload": [], "download": []}
    hooks.on_job(lambda e: seen["job"].append(e.kind))
    hooks.on_reject(lambda status, code, path: seen["reject"].append((status, code)))
    hooks.on_upload(lambda fmt, size: seen["upload"].append(fmt))
    hooks.on_download(lambda fmt, size: seen["download"].append(fmt))
    job = submit(client, small_png).json()
    done = wait_job(client.get, job["id"])
    client.get(done["artifacts"][0]["url"])
    client.get(done["links"]["input"])
    client.post("/api/v1/jobs", files={"image": ("x.png", b"GIF89a-not-really", "image/png")})
    client.get("/api/v1/jobs/missing")
    with client.stream("GET", done["links"]["events"]) as stream:
        list(stream.iter_lines())
    assert seen["job"][0] == "submitted" and seen["job"][-1] == "succeeded" and "started" in seen["job"]
    assert seen["upload"] == ["png"] and seen["download"] == ["stl", "png"]
    assert (422, "corrupt") in seen["reject"] and (404, "not_found") in seen["reject"]


def test_an_engine_that_cannot_run_is_refused_at_submit(client: TestClient, small_png: bytes) -> None:
    from orfeas.engines import all_engines

    settings = client.app.state.settings
    unavailable = [e for e in all_engines() if not e.availability(settings).available]
    for engine in unavailable:  # on a host with every engine installed, the loop is empty
        for response in (
            client.post(
                "/api/v1/jobs",
                files={"image": ("d.png", small_png, "image/png")},
                data={"engine": engine.name},
            ),
            client.post("/api/v1/jobs", json={"text": "A", "engine": engine.name}),
        ):
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["code"] == "engine_unavailable" and error["field"] == "engine" and error["message"]
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_unexpected_errors_are_a_json_500_with_headers(tmp_path: Path) -> None:
    app = create_app(app_settings(tmp_path / "data"))

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    seen: list[tuple[int, str]] = []
    app.state.hooks.on_reject(lambda status, code, path: seen.append((status, code)))
    with TestClient(app) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal",
            "message": "An unexpected error occurred; it has been logged.",
            "field": None,
        }
    }
    assert response.headers["x-content-type-options"] == "nosniff"
    assert seen == [(500, "internal")]
