"""Crash safety: kill -9 the server mid-job, restart it, and every job still ends cleanly."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import psutil
import pytest
import trimesh

from tests.api.conftest import LiveServer, wait_job
from tests.conftest import disc_rgba, png_bytes

pytestmark = pytest.mark.integration


def wait_until(condition: Callable[[], bool], limit_s: float, what: str) -> None:
    """Poll ``condition`` (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("max_attempts", [1, 2])
def test_kill_9_mid_job_then_restart(live_server: Callable[..., LiveServer], max_attempts: int) -> None:
    server = live_server(max_attempts=max_attempts)
    picture = png_bytes(disc_rgba(640))
    with server.client() as http:
        ids = [
            http.post(
                "/api/v1/jobs", files={"image": ("p.png", picture, "image/png")}, data={"mode": "puffy"}
            ).json()["id"]
            for _ in range(3)
        ]

        def running() -> str | None:
            for job_id in ids:
                job = http.get(f"/api/v1/jobs/{job_id}").json()
                if job["state"] == "running" and job["stage"] is not None:
                    return job_id
            return None

        wait_until(lambda: running() is not None, 120, "a job to be running")
        victim = running()
    assert victim is not None
    helpers = psutil.Process(server.process.pid).children(recursive=True)
    server.kill()
    # the runner processes die with the server (they must not write into its folders later)
    _, alive = psutil.wait_procs(helpers, timeout=30)
    assert alive == []

    restarted = live_server(data_dir=server.data_dir, max_attempts=max_attempts)
    with restarted.client() as http:
        finals = {job_id: wait_job(http.get, job_id) for job_id in ids}
        for job_id, job in finals.items():
            if job_id == victim and max_attempts == 1:
                assert job["state"] == "failed" and job["error"]["code"] == "interrupted"
                assert job["artifacts"] == [] and job["attempts"] == 1
                assert http.get(f"/api/v1/jobs/{job_id}/artifacts/model.stl").status_code == 404
                continue
            assert job["state"] == "succeeded", job["error"]
            assert job["attempts"] == (2 if job_id == victim else 1)
            for artifact in job["artifacts"]:
                data = http.get(artifact["url"]).content
                assert len(data) == artifact["size"]  # never a partial file
                mesh = trimesh.load(io.BytesIO(data), file_type=artifact["format"], force="mesh")
                assert mesh.is_watertight
    leftovers = [p for p in (server.data_dir / "jobs").rglob("*") if p.name.endswith(".part")]
    assert leftovers == []
