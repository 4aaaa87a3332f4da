"""Scale-out benchmark: jobs/minute with 1 and 2 `orfeas worker` processes, and the Celery path's latency.

Starts a real Redis and PostgreSQL on loopback (the test helpers in ``tests/jobs/servers.py``), an API
server with ``queue=celery``, then runs the same batch of small text jobs with one worker process and
with two (each ``--concurrency 1``), reporting the throughput ratio; then the latency of one job at a
time, submit → succeeded as the client sees it, on the Celery path and on the embedded local pool.
Bounded: each phase stops at its deadline (total well under 3 minutes). JSON to
``bench/results/scale.json``.

    python bench/scale.py [--jobs 16] [--latency-jobs 4] [--image 1024] [--pin]
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
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.api.conftest import start_server  # noqa: E402
from tests.conftest import disc_rgba, png_bytes  # noqa: E402
from tests.jobs.servers import RedisServer, new_database, postgres_server, start_worker  # noqa: E402

JOB: dict = {"text": "ORFEAS 3D", "params": {"target_faces": "60000"}, "formats": ["stl", "glb"]}
DONE = {"succeeded", "failed", "cancelled"}
#: --image N: a picture job instead (an N² logo with transparency, puffy), as the studio sends.
IMAGE: bytes | None = None


def submit(http: httpx.Client) -> str:
    """One job of the benchmark's kind; its id."""
    if IMAGE is None:
        return http.post("/api/v1/jobs", json=JOB).json()["id"]
    files = {"image": ("logo.png", IMAGE, "image/png")}
    data = {"mode": "puffy", "target_faces": JOB["params"]["target_faces"], "formats": "stl,glb"}
    return http.post("/api/v1/jobs", files=files, data=data).json()["id"]


def wait_all(http: httpx.Client, ids: list[str], deadline: float) -> int:
    """Wait for the jobs ``ids`` to finish; the number that succeeded.

    Polls one job at a time, in submission order (the order they finish in, roughly), so the
    client's own polling stays one small request per 50 ms: on 2 shared cores it must not take the
    CPU the workers are being measured on (polling every pending job, or the list, did).
    """
    ok = 0
    for job_id in ids:
        while time.monotonic() < deadline:
            state = http.get(f"/api/v1/jobs/{job_id}").json()["state"]
            if state in DONE:
                ok += state == "succeeded"
                break
            time.sleep(0.05)
    return ok


PIN = False  # --pin: give each of several workers its own core(s), as if on its own machine


def start_workers(n: int, env: dict[str, str], logs: Path) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes, each ready (connected to the broker) before any job is timed."""
    procs = [start_worker(env, logs / f"worker-{n}-{i}.log") for i in range(n)]
    cpus = sorted(os.sched_getaffinity(0))
    if PIN and n > 1 and len(cpus) >= n:
        for i, proc in enumerate(procs):
            share = set(cpus[i::n])
            # the worker and its runner processes (forked later inherit it; pin the running ones too)
            for pid in [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]:
                os.sched_setaffinity(pid, share)
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
            [submit(http) for _ in range(n_workers)],
            time.monotonic() + 60,
        )
        start = time.monotonic()
        ids = [submit(http) for _ in range(jobs)]
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
        job_id = submit(http)
        wait_all(http, [job_id], start + 60)
        out.append(time.monotonic() - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--latency-jobs", type=int, default=4)
    ap.add_argument("--worker-mode", choices=["process", "thread"], default="process")
    ap.add_argument("--pin", action="store_true", help="pin each of the 2 workers to its own core")
    ap.add_argument("--text", default=JOB["text"], help="the text of each job (longer: a bigger job)")
    ap.add_argument("--faces", default=JOB["params"]["target_faces"], help="target_faces of each job")
    ap.add_argument("--image", type=int, default=0, help="picture jobs of this many pixels a side")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/scale.json")
    args = ap.parse_args()
    global PIN, IMAGE
    PIN = args.pin
    if args.image:
        IMAGE = png_bytes(disc_rgba(args.image))
    JOB.update(text=args.text, params={"target_faces": str(args.faces)})
    root = Path(tempfile.mkdtemp(prefix="orfeas-scale-"))
    redis = RedisServer()
    redis.start()
    result: dict = {
        "cpus": os.cpu_count(),
        "job": JOB if not args.image else {"image_px": args.image, "mode": "puffy"},
        "worker_mode": args.worker_mode,
        "pinned": args.pin,
    }
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
            env.update(
                ORFEAS_DATA_DIR=str(root / "w"), ORFEAS_WORKERS="1", ORFEAS_WORKER_MODE=args.worker_mode
            )
            # no worker yet: each phase starts its own, so wait for the API to be up, not ready
            api = start_server(root / "api", root / "logs", ready_path="/healthz", **settings)
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
