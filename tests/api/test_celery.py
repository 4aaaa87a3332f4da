"""The API on the scale-out configuration: queue=celery over a real Redis, PostgreSQL, `orfeas worker`s.

Real servers from the distribution's packages on loopback (``tests.jobs.servers``); missing ones skip
locally and fail in CI. (The rest of ``tests/api`` also runs on this configuration: see the
``backend`` fixture in ``tests/api/conftest.py``.) Each test here gets its own servers, since they
stop workers and the broker.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import FAST, LiveServer, free_port, start_server
from tests.conftest import require
from tests.jobs.servers import (
    HAVE_SCALE,
    RedisServer,
    new_database,
    postgres_server,
    start_worker,
    stop_worker,
)

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    redis: RedisServer
    database_url: str
    root: Path
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    metrics_ports: list[int] = field(default_factory=list)

    def start_worker(self, **settings: str) -> subprocess.Popen[bytes]:
        """Start one more ``orfeas worker`` (its own /metrics port) and wait until it is ready."""
        port = free_port()
        env = {**self.env, "ORFEAS_WORKER_METRICS_PORT": str(port)}
        env.update({f"ORFEAS_{k.upper()}": v for k, v in settings.items()})
        proc = start_worker(env, self.root / f"worker-{len(self.workers)}.log")
        self.workers.append(proc)
        self.metrics_ports.append(port)
        return proc

    def log(self, index: int) -> str:
        return (self.root / f"worker-{index}.log").read_text(errors="replace")

    def stop_workers(self) -> None:
        for proc in self.workers:
            stop_worker(proc)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    require(HAVE_SCALE, "the `scale` extra (celery, psycopg, redis) is not installed")
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
            ORFEAS_HOST="127.0.0.1",
        )
        c = Cluster(redis, url, tmp_path, env)
        try:
            yield c
        finally:
            c.stop_workers()
            redis.close()


def api(live: Cluster) -> LiveServer:
    """An API process on the cluster (ready once a worker answers, so start one first)."""
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


def text_job(http: httpx.Client, text: str = "L", **params: str) -> httpx.Response:
    return http.post("/api/v1/jobs", json={"text": text, "params": {**FAST, **params}, "formats": ["stl"]})


def sample(port: int, name: str, labels: str = "") -> float:
    """The sum of a metric's samples on a worker's /metrics (``labels``: a substring to match)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if match and labels in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def test_round_trip_cancel_and_list_on_celery(cluster: Cluster) -> None:
    worker = cluster.start_worker()
    server = api(cluster)
    try:
        with server.client() as http:
            os.killpg(worker.pid, signal.SIGSTOP)  # no worker takes jobs: it waits in the broker
            queued = text_job(http)
            assert queued.status_code == 202, queued.text
            cancelled = http.delete(f"/api/v1/jobs/{queued.json()['id']}")
            assert cancelled.json()["state"] == "cancelled"
            os.killpg(worker.pid, signal.SIGCONT)
            job = wait(http, text_job(http).json()["id"])
            assert job["state"] == "succeeded", job
            stl = http.get(f"/api/v1/jobs/{job['id']}/artifacts/model.stl")
            assert stl.status_code == 200 and len(stl.content) > 1000
            assert (cluster.root / "shared" / job["id"] / "model.stl").exists()
            listed = http.get("/api/v1/jobs").json()
            assert {j["id"] for j in listed["items"]} >= {job["id"], queued.json()["id"]}
            # the worker recorded the job in its own metrics; the API exports the broker's queue depth
            port = cluster.metrics_ports[0]
            assert sample(port, "orfeas_jobs_succeeded_total") == 1
            assert sample(port, "orfeas_generations_total", 'outcome="succeeded"') == 1
            assert sample(port, "orfeas_generation_stage_duration_seconds_count") > 0
            assert sample(port, "orfeas_generation_mesh_faces_count") == 1
            assert "orfeas_broker_queue_messages 0.0" in http.get("/metrics").text
    finally:
        server.stop()


def test_killed_worker_job_is_redelivered_and_finishes_on_the_other(cluster: Cluster) -> None:
    # A short job timeout keeps the broker's visibility timeout (the wait before a job of a lost
    # worker is handed out again) at ~28 s; the job itself takes a few seconds.
    for _ in range(2):
        cluster.start_worker(job_timeout_s="10")
    server = api(cluster)
    try:
        with server.client() as http:
            job_id = text_job(http, "ORFEAS SCALE OUT", target_faces="20000").json()["id"]
            deadline = time.monotonic() + 60
            while http.get(f"/api/v1/jobs/{job_id}").json()["state"] != "running":
                assert time.monotonic() < deadline, "the job never started"
                time.sleep(0.02)
            # which worker runs it: the one that logged taking it
            taken = [i for i in range(2) if f"job {job_id}: running (attempt 1)" in cluster.log(i)]
            while not taken:
                assert time.monotonic() < deadline, "no worker says it runs the job"
                time.sleep(0.02)
                taken = [i for i in range(2) if f"job {job_id}: running (attempt 1)" in cluster.log(i)]
            (victim,) = taken
            while not sample(cluster.metrics_ports[victim], "orfeas_jobs_active"):  # its /metrics agree
                assert time.monotonic() < deadline, "the worker's metrics never showed the job"
                time.sleep(0.02)
            survivor = 1 - victim
            os.killpg(cluster.workers[victim].pid, signal.SIGKILL)  # the worker and its job's process
            cluster.workers[victim].wait(30)
            assert http.get(f"/api/v1/jobs/{job_id}").json()["state"] == "running", "killed too late"
            job = wait(http, job_id, limit_s=120)
            assert job["state"] == "succeeded", job
            assert job["attempts"] == 2  # the lost run and the redelivered one
            port = cluster.metrics_ports[survivor]
            # one success in the metrics, counted by the surviving worker: it ran the job
            assert sample(port, "orfeas_jobs_succeeded_total") == 1
            assert sample(port, "orfeas_generations_total", 'outcome="succeeded"') == 1
            assert f"job {job_id} was running on a lost worker" in cluster.log(survivor)
            files = sorted(p.name for p in (cluster.root / "shared" / job_id).iterdir())
            assert files == ["input.png", "model.stl"], files  # one set of artifacts, no leftovers
    finally:
        server.stop()


def test_broker_down_answers_503_and_loses_nothing(cluster: Cluster) -> None:
    cluster.start_worker()
    server = api(cluster)
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
            assert "orfeas_broker_queue_messages" not in http.get("/metrics").text  # no sample, no NaN
            cluster.redis.start()
            after = text_job(http)
            assert after.status_code == 202, after.text
            ids = [before.json()["id"], after.json()["id"]]
            assert total_down == 1  # the refused job was not kept
            for job_id in ids:
                final = wait(http, job_id, limit_s=180)
                assert final["state"] == "succeeded", final
    finally:
        server.stop()
