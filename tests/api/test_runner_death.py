"""Runner processes die with the server, even when it is killed with SIGKILL (issue 16, defect 6):
they are forked by the forkserver, which outlived a killed server by 3–5 s, long enough for a
runner to finish its job and write ``model.*`` into a folder the restarted server owns."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest

from tests.api.conftest import LiveServer
from tests.api.test_fault import wait_until
from tests.conftest import photo_like, png_bytes

pytestmark = pytest.mark.integration


def _alive(process: psutil.Process) -> bool:
    """Running, and not a zombie (a dead runner stays one until the forkserver reaps it)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_runners_die_at_once_with_a_killed_server_and_write_nothing_after(
    live_server: Callable[..., LiveServer],
) -> None:
    """Killed while it exports a large 3MF (seconds of work between two progress reports, where
    only the pipe's end used to be noticed): before the fix the runner finished that file."""
    server = live_server()
    picture = png_bytes(photo_like(1024))
    fields = {"mode": "lithophane", "target_faces": "1000000", "formats": "3mf,stl"}
    with server.client() as http:
        job_id = http.post(
            "/api/v1/jobs", files={"image": ("p.png", picture, "image/png")}, data=fields
        ).json()["id"]
        wait_until(lambda: http.get(f"/api/v1/jobs/{job_id}").json()["stage"] == "export", 300, "the export")
    helpers = psutil.Process(server.process.pid).children(recursive=True)
    runners = [p for p in helpers if p.ppid() != server.process.pid]  # forked by the forkserver
    assert runners, [p.cmdline() for p in helpers]
    killed_at = time.time()
    server.kill()
    wait_until(lambda: not any(_alive(p) for p in runners), 2, "the runners to die with the server")
    time.sleep(3)  # what a surviving runner would need to finish the 3MF and write it
    written_after = [
        p.relative_to(server.data_dir).as_posix()
        for p in (server.data_dir / "jobs").rglob("*")
        if p.is_file() and p.stat().st_mtime > killed_at
    ]
    assert written_after == []
