"""Scale-out benchmark: jobs/minute with 1 and 2 `orfeas worker` processes, and the Celery path's latency.

Starts a real Redis and PostgreSQL on loopback (the test helpers in ``tests/jobs/servers.py``), an API
server with ``queue=celery``, then runs the same batch of small text jobs with one worker process and
with two (each ``--concurrency 1``), reporting the throughput ratio; then the latency of one job at a
time, submit → succeeded as the client sees it, on the Celery path and on the embedded local pool.
Bounded: each phase stops at its deadline (total well under 3 minutes). JSON to
``bench/results/scale.json``.

    python bench/scale.py [--jobs 16] [--latency-jobs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.conftest import start_server  # noqa: E402
from tests.jobs.servers import RedisServer, new_database, postgres_server  # noqa: E402

JOB = {"text": "ORFEAS 3D", "params": {"target_faces": "60000"}, "formats": ["stl", "glb"]}
DONE = {"succeeded", "failed", "cancelled"}


def wait_all(http: httpx.Client, ids: list[str], deadline: float) -> int:
    pending, ok = set(ids), 0
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            state = http.get(f"/api/v1/jobs/{job_id}").json()["state"]
            if state in DONE:
                pending.discard(job_id)
                ok += state == "succeeded"
        time.sleep(0.05)
    return ok


def start_workers(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        out = (logs / f"worker-{n}-{i}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", "from orfeas.cli import main; main(['worker'])"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def throughput(http: httpx.Client, n_workers: int, jobs: int, env: dict, logs: Path) -> dict:
    procs = start_workers(n_workers, env, logs)
    try:
        # warm-up: one job per worker process (imports, first-run caches) before timing
        wait_all(
            http,
            [http.post("/api/v1/jobs", json=JOB).json()["id"] for _ in range(n_workers)],
            time.monotonic() + 60,
        )
        start = time.monotonic()
        ids = [http.post("/api/v1/jobs", json=JOB).json()["id"] for _ in range(jobs)]
        ok = wait_all(http, ids, start + 60)
        elapsed = time.monotonic() - start
    finally:
        stop_workers(procs)
    return {
        "workers": n_workers,
        "jobs": jobs,
        "succeeded": ok,
        "seconds": round(elapsed, 2),
        "jobs_per_minute": round(60 * ok / elapsed, 1),
    }


def latency(http: httpx.Client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.monotonic()
        job_id = http.post("/api/v1/jobs", json=JOB).json()["id"]
        wait_all(http, [job_id], start + 60)
        out.append(time.monotonic() - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--latency-jobs", type=int, default=4)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="orfeas-scale-"))
    redis = RedisServer()
    redis.start()
    result: dict = {"cpus": os.cpu_count()}
    try:
        with postgres_server() as admin:
            url = new_database(admin, f"bench_{uuid.uuid4().hex[:8]}")
            settings = {
                "queue": "celery",
                "broker_url": redis.url,
                "database_url": url,
                "artifact_dir": root / "shared",
                "queue_size": 64,
            }
            env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
            env.update({f"ORFEAS_{k.upper()}": str(v) for k, v in settings.items()})
            env.update(ORFEAS_DATA_DIR=str(root / "w"), ORFEAS_WORKERS="1")
            api = start_server(root / "api", root / "logs", **settings)
            try:
                with httpx.Client(base_url=api.url, timeout=30) as http:
                    one = throughput(http, 1, args.jobs, env, root / "logs")
                    two = throughput(http, 2, args.jobs, env, root / "logs")
                    procs = start_workers(1, env, root / "logs")
                    try:
                        latency(http, 1)  # warm-up
                        celery_lat = latency(http, args.latency_jobs)
                    finally:
                        stop_workers(procs)
            finally:
                api.stop()
        local = start_server(root / "local", root / "logs", queue_size=64)
        try:
            with httpx.Client(base_url=local.url, timeout=30) as http:
                latency(http, 1)
                local_lat = latency(http, args.latency_jobs)
        finally:
            local.stop()
    finally:
        redis.close()
    median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
    result.update(
        one_worker=one,
        two_workers=two,
        ratio=round(two["jobs_per_minute"] / max(one["jobs_per_minute"], 1e-9), 2),
        latency_s={
            "celery_median": round(median(celery_lat), 3),
            "local_median": round(median(local_lat), 3),
        },
    )
    result["celery_added_latency_s"] = round(
        result["latency_s"]["celery_median"] - result["latency_s"]["local_median"], 3
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
