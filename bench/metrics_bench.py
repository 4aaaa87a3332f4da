"""Benchmark of the metrics: scrape time after 1,000 jobs and the cost of request instrumentation.

1. Scrape: a :class:`orfeas.metrics.Metrics` records 1,000 jobs' worth of traffic (submissions,
   status polls, event streams, downloads, bad requests, generations with every stage), then the
   ``/metrics`` ASGI app is called repeatedly, plain and gzip (what Prometheus asks for).
   Target: p50 ≤ 5 ms.
2. Instrumentation: the job-status route, ``GET /api/v1/jobs/{job_id}``, with metrics on and off
   in the same run, interleaved in rounds, called in-process through httpx's ASGI transport (no
   network noise, so the ratio is the strict one). Done for the real service
   (``orfeas.api.create_app`` with ``metrics_enabled`` true/false) when it exists, and for a
   minimal FastAPI app with the same route either way. Target: ratio ≤ 1.05.

    python bench/metrics_bench.py [--jobs 1000] [--scrapes 300] [--requests 400] [--rounds 7]
                                  [--out bench/results/metrics.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from orfeas.metrics import STAGES, Metrics, MetricsMiddleware

SCRAPE_TARGET_MS = 5.0
OVERHEAD_TARGET_RATIO = 1.05
FORMATS = ("stl", "3mf", "obj", "glb", "ply")


# --- 1. scrape time --------------------------------------------------------------------------------
def record_jobs(metrics: Metrics, jobs: int, seed: int = 1) -> None:
    """What ``jobs`` jobs and their surrounding traffic leave in the registry."""
    rng = random.Random(seed)
    metrics.set_capacity(workers=2, queue_size=64)
    route_job = "/api/v1/jobs/{job_id}"
    for i in range(jobs):
        kind = "text" if i % 5 == 0 else "image"
        metrics.observe_request(
            "/api/v1/jobs", "POST", 202, rng.uniform(0.01, 0.2), rng.randint(2e4, 5e6), 900
        )
        metrics.job_queued(kind)
        if kind == "image":
            metrics.record_upload(rng.choice(("png", "jpeg", "webp")), rng.randint(2e4, 5e6))
        metrics.job_started(queue_wait_s=rng.expovariate(1.0))
        for _ in range(5):
            metrics.observe_request(route_job, "GET", 200, rng.uniform(0.001, 0.01), 0, 1500)
        metrics.observe_request(route_job + "/events", "GET", 200, rng.uniform(0.5, 5), 0, 8000)
        outcome = "succeeded" if rng.random() < 0.9 else "failed"
        timings = {stage: rng.uniform(0.005, 0.5) for stage in STAGES}
        metrics.record_generation(
            "relief", kind, outcome, timings, rng.uniform(0.5, 1.0), rng.randint(5_000, 60_000)
        )
        reason = None if outcome == "succeeded" else rng.choice(("no_subject", "mesh_invalid", "timeout"))
        metrics.job_finished(outcome, reason, turnaround_s=sum(timings.values()) + 0.5)
        if outcome == "succeeded":
            for fmt in rng.sample(FORMATS, 2):
                metrics.observe_request(route_job + "/artifacts/{name}", "GET", 200, 0.003, 0, 400_000)
                metrics.record_download(fmt, 400_000)
        if i % 10 == 0:  # the usual background: bad uploads, strays, limits, the studio
            metrics.observe_request("/api/v1/jobs", "POST", rng.choice((413, 415, 422)), 0.004, 9e6, 200)
            metrics.record_validation_error(rng.choice(("unsupported_type", "too_large", "corrupt")))
            metrics.observe_request("unmatched", "GET", 404, 0.001, 0, 50)
            metrics.observe_request("/api/v1/jobs", "POST", 429, 0.001, 1e5, 80)
            metrics.record_rate_limited("submissions")
            for route in ("/", "/static/{path}", "/api/v1/engines", "/healthz", "/readyz", "/metrics"):
                metrics.observe_request(route, "GET", 200, 0.002, 0, 3000)


async def call_asgi(app: Callable[..., Any], headers: list[tuple[bytes, bytes]]) -> bytes:
    """One GET through a raw ASGI app; returns the body."""
    body = bytearray()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"", "headers": headers}
    await app(scope, receive, send)
    return bytes(body)


def bench_scrape(jobs: int, scrapes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        metrics = Metrics(data_dir=data_dir)
        started = time.perf_counter()
        record_jobs(metrics, jobs)
        record_s = time.perf_counter() - started
        app = metrics.asgi_app()
        result: dict[str, Any] = {"jobs": jobs, "record_all_jobs_s": round(record_s, 3)}
        for name, headers in (("plain", []), ("gzip", [(b"accept-encoding", b"gzip")])):
            body = asyncio.run(call_asgi(app, headers))
            times = []
            for _ in range(scrapes):
                t0 = time.perf_counter()
                asyncio.run(call_asgi(app, headers))  # a fresh loop costs ~50 µs; counted, so pessimistic
                times.append((time.perf_counter() - t0) * 1000)
            text = gzip.decompress(body) if name == "gzip" else body
            result[name] = {
                "p50_ms": round(statistics.median(times), 3),
                "p95_ms": round(statistics.quantiles(times, n=20)[18], 3),
                "bytes": len(body),
                "samples": sum(1 for line in text.splitlines() if line and not line.startswith(b"#")),
            }
        result["target_p50_ms"] = SCRAPE_TARGET_MS
        result["meets_target"] = result["gzip"]["p50_ms"] <= SCRAPE_TARGET_MS
        return result


# --- 2. instrumentation overhead -------------------------------------------------------------------
@contextlib.asynccontextmanager
async def lifespan(app: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """Run an ASGI app's lifespan around the block; yields the app with lifespan state attached."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    state: dict[str, Any] = {}
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {message}")

    async def with_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # what uvicorn does: each request sees a copy of the state
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    try:
        yield with_state
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


Get = Callable[[], Awaitable[httpx.Response]]


async def time_requests(get: Get, n: int) -> float:
    """Mean µs per request over ``n`` sequential requests."""
    t0 = time.perf_counter()
    for _ in range(n):
        response = await get()
        if response.status_code != 200:
            raise RuntimeError(f"{response.url}: {response.status_code} {response.text[:200]}")
    return (time.perf_counter() - t0) / n * 1e6


async def compare(on: Get, off: Get, n: int, rounds: int) -> dict[str, Any]:
    """Median µs per request with metrics on and off, interleaved so drift hits both alike."""
    await time_requests(on, n // 4)  # warm-up
    await time_requests(off, n // 4)
    on_us, off_us = [], []
    for r in range(rounds):
        pair = ((on, on_us), (off, off_us)) if r % 2 == 0 else ((off, off_us), (on, on_us))
        for get, sink in pair:
            sink.append(await time_requests(get, n))
    on_median, off_median = statistics.median(on_us), statistics.median(off_us)
    return {
        "requests_per_round": n,
        "rounds": rounds,
        "on_us_per_request": round(on_median, 1),
        "off_us_per_request": round(off_median, 1),
        "overhead_us": round(on_median - off_median, 1),
        "ratio": round(on_median / off_median, 4),
        "target_ratio": OVERHEAD_TARGET_RATIO,
        "meets_target": on_median / off_median <= OVERHEAD_TARGET_RATIO,
    }


def minimal_app(metrics: Metrics | None) -> FastAPI:
    """A job-status route shaped like the service's, with or without the metrics middleware."""
    app = FastAPI()
    artifacts = [{"name": f"model.{f}", "format": f, "size": 1000, "url": f"/x/model.{f}"} for f in FORMATS]
    job = {
        "id": "0" * 32, "state": "succeeded", "stage": "export", "progress": 1.0, "engine": "relief",
        "params": {"mode": "puffy", "size_mm": 80}, "timings": dict.fromkeys(STAGES, 0.1),
        "artifacts": artifacts,
    }  # fmt: skip

    @app.get("/api/v1/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, Any]:
        return {**job, "id": job_id}

    if metrics is not None:
        app.add_route("/metrics", metrics.asgi_app(), include_in_schema=False)
        app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


async def bench_minimal(n: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir:
        on_app, off_app = minimal_app(Metrics(data_dir=data_dir)), minimal_app(None)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=on_app), base_url="http://bench") as on,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=off_app), base_url="http://bench") as off,
        ):
            path = "/api/v1/jobs/" + "a" * 32
            return await compare(lambda: on.get(path), lambda: off.get(path), n, rounds)


async def bench_service(n: int, rounds: int) -> dict[str, Any]:
    try:
        from orfeas.api import create_app
    except ImportError as exc:
        return {"skipped": f"orfeas.api.create_app is not available ({exc})"}
    from orfeas.settings import Settings

    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        common = {"workers": 1, "rate_limit_requests_per_minute": 0, "rate_limit_submissions_per_minute": 0}
        on_app = create_app(Settings(data_dir=Path(on_dir), metrics_enabled=True, **common))
        off_app = create_app(Settings(data_dir=Path(off_dir), metrics_enabled=False, **common))
        async with (
            lifespan(on_app) as on_asgi,
            lifespan(off_app) as off_asgi,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=on_asgi), base_url="http://bench") as on,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=off_asgi), base_url="http://bench") as off,
        ):
            paths = []
            for client in (on, off):  # one finished job on each, so the route answers a real job
                answer = await client.post("/api/v1/jobs", json={"text": "BENCH", "formats": ["stl"]})
                if answer.status_code != 202:
                    raise RuntimeError(f"submit: {answer.status_code} {answer.text[:300]}")
                path = f"/api/v1/jobs/{answer.json()['id']}"
                deadline = time.monotonic() + 120
                while (await client.get(path)).json()["state"] not in ("succeeded", "failed"):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the benchmark job did not finish")
                    await asyncio.sleep(0.1)
                paths.append(path)
            metrics_page = await on.get("/metrics")
            wired = metrics_page.status_code == 200 and 'route="/api/v1/jobs/{job_id}"' in metrics_page.text
            disabled = (await off.get("/metrics")).status_code == 404
            result = await compare(lambda: on.get(paths[0]), lambda: off.get(paths[1]), n, rounds)
            return {**result, "metrics_wired": wired, "metrics_off_has_no_endpoint": disabled}


# --- main ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--requests", type=int, default=400, help="requests per round and app")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "metrics.json")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "scrape": bench_scrape(args.jobs, args.scrapes),
        "instrumentation_minimal_app": asyncio.run(bench_minimal(args.requests, args.rounds)),
        "instrumentation_service": asyncio.run(bench_service(args.requests, args.rounds)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    scrape = results["scrape"]
    size, zipped = scrape["plain"]["bytes"] / 1024, scrape["gzip"]["bytes"] / 1024
    print(f"/metrics after {scrape['jobs']} jobs ({scrape['plain']['samples']} samples, "
          f"{size:.0f} KiB, gzip {zipped:.0f} KiB):")  # fmt: skip
    for name in ("plain", "gzip"):
        print(f"  {name:5s} p50 {scrape[name]['p50_ms']:.2f} ms  p95 {scrape[name]['p95_ms']:.2f} ms  "
              f"(target p50 ≤ {SCRAPE_TARGET_MS} ms)")  # fmt: skip
    for key, title in (
        ("instrumentation_minimal_app", "minimal app"),
        ("instrumentation_service", "service"),
    ):
        r = results[key]
        if "skipped" in r:
            print(f"instrumentation, {title}: skipped — {r['skipped']}")
            continue
        note = (
            ""
            if r.get("metrics_wired", True)
            else "  [metrics NOT wired into the service: ratio meaningless]"
        )
        print(f"instrumentation, {title}, GET /api/v1/jobs/{{job_id}}: on {r['on_us_per_request']:.0f} µs, "
              f"off {r['off_us_per_request']:.0f} µs, +{r['overhead_us']:.0f} µs, ratio {r['ratio']:.3f} "
              f"(target ≤ {OVERHEAD_TARGET_RATIO}){note}")  # fmt: skip
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
