"""The API on the scale-out configuration: queue=celery over a real Redis, PostgreSQL, `orfeas worker`s.

Real servers from the distribution's packages on loopback (``tests.jobs.servers``); missing ones skip
locally and fail in CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.api.conftest import FAST, LiveServer, start_server
from tests.conftest import require
from tests.jobs.servers import RedisServer, new_database, postgres_server

pytestmark = pytest.mark.integration

try:
    import celery  # noqa: F401
    import psycopg  # noqa: F401

    HAVE_SCALE = True
except ImportError:
    HAVE_SCALE = False


@dataclass
class Cluster:
    redis: RedisServer
    database_url: str
    root: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.root / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-c", "from orfeas.cli import main; main(['worker'])"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        self.workers = []


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require(HAVE_SCALE, "the `scale` extra (celery, psycopg) is not installed")
    redis = RedisServer()
    redis.start()
    with postgres_server() as admin:
        url = new_database(admin, f"c_{uuid.uuid4().hex[:12]}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
        env.update(
            ORFEAS_QUEUE="celery",
            ORFEAS_BROKER_URL=redis.url,
            ORFEAS_DATABASE_URL=url,
            ORFEAS_DATA_DIR=str(tmp_path / "worker-data"),
            ORFEAS_ARTIFACT_DIR=str(tmp_path / "shared"),
            ORFEAS_WORKERS="1",
            ORFEAS_JOB_TIMEOUT_S="120",
        )
        c = Cluster(redis, url, tmp_path, env)
        try:
            yield c
        finally:
            c.stop_workers()
            redis.close()


def api(live: Cluster) -> LiveServer:
    return start_server(
        live.root / "api-data",
        live.root / "logs",
        queue="celery",
        broker_url=live.redis.url,
        database_url=live.database_url,
        artifact_dir=live.root / "shared",
        queue_size=16,
    )


def wait(http: httpx.Client, job_id: str, limit_s: float = 120) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def text_job(http: httpx.Client, text: str = "L") -> httpx.Response:
    return http.post("/api/v1/jobs", json={"text": text, "params": FAST, "formats": ["stl"]})


def test_round_trip_cancel_and_list_on_celery(cluster: Cluster) -> None:
    server = api(cluster)
    try:
        with server.client() as http:
            queued = text_job(http)  # no worker yet: it waits in the broker
            assert queued.status_code == 202, queued.text
            cancelled = http.delete(f"/api/v1/jobs/{queued.json()['id']}")
            assert cancelled.json()["state"] == "cancelled"
            cluster.start_worker()
            job = wait(http, text_job(http).json()["id"])
            assert job["state"] == "succeeded", job
            stl = http.get(f"/api/v1/jobs/{job['id']}/artifacts/model.stl")
            assert stl.status_code == 200 and len(stl.content) > 1000
            assert (cluster.root / "shared" / job["id"] / "model.stl").exists()
            listed = http.get("/api/v1/jobs").json()
            assert {j["id"] for j in listed["items"]} >= {job["id"], queued.json()["id"]}
    finally:
        server.stop()


def test_killed_worker_job_is_redelivered_and_finishes_once(cluster: Cluster) -> None:
    server = api(cluster)
    cluster.start_worker()
    try:
        with server.client() as http:
            wait(http, text_job(http).json()["id"])  # the first worker is up and warm
            cluster.start_worker()
            for _ in range(3):  # a job may finish before the kill lands: then try another
                job_id = text_job(http, "ORFEAS SCALE").json()["id"]
                deadline = time.monotonic() + 60
                while http.get(f"/api/v1/jobs/{job_id}").json()["state"] == "queued":
                    assert time.monotonic() < deadline, "the job never started"
                    time.sleep(0.02)
                # kill -9 the process running the job — the pool child of whichever worker took it (both
                # are killed; the idle one's loss is harmless): its worker sees it lost and puts the
                # message back (reject on worker lost), and a fresh pool process takes it
                for worker in cluster.workers:
                    for child in psutil.Process(worker.pid).children(recursive=True):
                        child.send_signal(signal.SIGKILL)
                job = wait(http, job_id, limit_s=180)
                assert job["state"] == "succeeded", job
                if job["attempts"] == 2:
                    break
            assert job["attempts"] == 2, "the kill never landed mid-job"
            files = sorted(p.name for p in (cluster.root / "shared" / job_id).iterdir())
            assert files == ["input.png", "model.stl"], files  # one set of artifacts, no leftovers
    finally:
        server.stop()


def test_broker_down_answers_503_and_loses_nothing(cluster: Cluster) -> None:
    server = api(cluster)
    cluster.start_worker()
    try:
        with server.client() as http:
            before = text_job(http)
            assert before.status_code == 202
            cluster.redis.stop()
            down = text_job(http)
            assert down.status_code == 503, down.text
            assert down.json()["error"]["code"] == "broker_unavailable" and "Retry-After" in down.headers
            assert "broker" in down.json()["error"]["message"]
            total_down = http.get("/api/v1/jobs").json()["total"]
            cluster.redis.start()
            after = text_job(http)
            assert after.status_code == 202, after.text
            ids = [before.json()["id"], after.json()["id"]]
            assert total_down == 1  # the refused job was not kept
            for job_id in ids:
                assert wait(http, job_id, limit_s=180)["state"] == "succeeded"
    finally:
        server.stop()
