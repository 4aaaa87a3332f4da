"""A full job through the real service with the tiny Hunyuan3D-2 model: the engine list shows it,
a job runs it and serves a verified STL; without weights the API says why before queueing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orfeas.api import create_app
from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.api.conftest import wait_job
from tests.conftest import disc_rgba, png_bytes

TINY = {"steps": 2, "octree_resolution": 20, "target_faces": 3000}


def _client(data_dir: Path) -> TestClient:
    # Threads: the runner shares this process's settings (the test sets its ORFEAS_* too).
    settings = Settings(
        data_dir=data_dir,
        workers=1,
        queue_size=4,
        worker_mode="thread",
        rate_limit_requests_per_minute=0,
        rate_limit_submissions_per_minute=0,
    )
    return TestClient(create_app(settings))


@pytest.fixture
def service(configure, tiny_hunyuan3d: Path, tmp_path: Path) -> Iterator[TestClient]:
    configure(hunyuan3d_model_dir=tiny_hunyuan3d, allow_cpu=True)
    with _client(tmp_path / "data") as client:
        yield client


@pytest.mark.integration
def test_a_hunyuan3d_job_through_the_service(service: TestClient) -> None:
    listed = {e["name"]: e for e in service.get("/api/v1/engines").json()["engines"]}
    assert listed["hunyuan3d"]["available"] and not listed["hunyuan3d"]["reason"]
    assert listed["hunyuan3d"]["parameters"]["properties"]["octree_resolution"]["maximum"] == 512
    response = service.post(
        "/api/v1/jobs",
        files={"image": ("disc.png", png_bytes(disc_rgba(96)), "image/png")},
        data={"engine": "hunyuan3d", "params": json.dumps(TINY), "formats": "stl,glb"},
    )
    assert response.status_code == 202, response.text
    job = wait_job(service.get, response.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    assert job["report"]["engine"]["name"] == "hunyuan3d" and job["report"]["watertight"]
    stl = service.get(f"/api/v1/jobs/{job['id']}/artifacts/model.stl")
    assert stl.status_code == 200 and check(exchange.load(stl.content, "stl")).ok


@pytest.mark.integration
def test_without_weights_the_api_says_why(configure, tmp_path: Path) -> None:
    configure(hunyuan3d_model_dir=tmp_path / "nothing", allow_cpu=True)
    with _client(tmp_path / "data") as client:
        listed = {e["name"]: e for e in client.get("/api/v1/engines").json()["engines"]}
        reason = listed["hunyuan3d"]["reason"]
        assert not listed["hunyuan3d"]["available"] and reason.startswith(
            f"no weights at {tmp_path / 'nothing'}"
        )
        response = client.post(
            "/api/v1/jobs",
            files={"image": ("disc.png", png_bytes(disc_rgba(64)), "image/png")},
            data={"engine": "hunyuan3d"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "engine_unavailable"
        assert reason in response.json()["error"]["message"]


@pytest.mark.integration
def test_a_painted_text_job_through_the_service(configure, tiny_diffusion: Path, tmp_path: Path) -> None:
    """A text job with ``text_to_image: "diffusion"``: listed, checked before queueing, then run."""
    configure(diffusion_model_dir=tiny_diffusion, allow_cpu=True)
    with _client(tmp_path / "data") as client:
        listed = {e["name"]: e for e in client.get("/api/v1/engines").json()["text_to_image"]}
        assert listed["diffusion"]["available"]
        assert listed["diffusion"]["parameters"]["properties"]["steps"]["maximum"] == 100
        body = {
            "text": "a round pebble",
            "text_to_image": "diffusion",
            "diffusion": {"steps": 2, "width": 64, "height": 64, "seed": 7},
            "params": {"target_faces": 2000},
            "formats": ["stl"],
        }
        bad = client.post("/api/v1/jobs", json={**body, "diffusion": {"steps": 0}})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "diffusion.steps"
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        submitted = response.json()
        assert submitted["input"]["text_to_image"]["method"] == "diffusion"
        assert submitted["input"]["text_to_image"]["options"]["seed"] == 7
        job = wait_job(client.get, submitted["id"])
        assert job["state"] == "succeeded", job["error"]
        assert job["report"]["text_to_image"]["method"] == "diffusion"
        stl = client.get(f"/api/v1/jobs/{job['id']}/artifacts/model.stl")
        assert stl.status_code == 200 and check(exchange.load(stl.content, "stl")).ok


@pytest.mark.integration
def test_without_a_diffusion_model_a_painted_text_is_refused(
    configure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ORFEAS_DIFFUSION_MODEL_DIR", raising=False)
    configure()
    with _client(tmp_path / "data") as client:
        response = client.post("/api/v1/jobs", json={"text": "a cat", "text_to_image": "diffusion"})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "engine_unavailable" and error["field"] == "text_to_image"
        assert "set ORFEAS_DIFFUSION_MODEL_DIR" in error["message"]
        assert client.get("/api/v1/jobs").json()["total"] == 0
