"""Loopback load benchmark of the ORFEAS service (``make bench`` runs it with the defaults).

Starts ``python -m orfeas.api`` on a free loopback port with a private data directory (rate
limits and the result cache off), then runs three bounded phases with a small stdlib-asyncio
HTTP/1.1 client (raw keep-alive sockets: an HTTP library would be the bottleneck on a 2-core
machine):

1. ``status``: ``--clients`` connections polling ``GET /api/v1/jobs/{id}`` for ``--status-seconds``;
2. ``mixed``: ``--clients`` clients for ``--duration`` seconds mixing status polls, list calls,
   event streams and submissions (a full queue's 503 and any 429 are counted, not errors);
3. ``overhead``: ``--overhead-jobs`` jobs one at a time, each followed on its event stream:
   submit→succeeded as the client sees it, minus the job's own run time in the worker
   (``finished_at - started_at``) and minus the generation stages alone (``timings``).

Then, on a second server with the result cache on, ``cache``: one job generated, the same
submission repeated ``--overhead-jobs`` times: the answer time of a cache hit against the
submit→succeeded time of generating it, in the same run.

Reports req/s, p50/p99 per route, errors (anything but 2xx/404/429/503, and broken
connections), server RSS (and with its worker processes) at start and end; writes JSON to
``bench/results/load.json`` and prints a summary.

``--compare-runners`` instead measures the worker pool's two runner kinds (child processes vs
threads) on the same batch of jobs, in-process, and reports the wall times.

    python bench/load.py [--duration 60] [--clients 50] [--out bench/results/load.json]
    python bench/load.py --compare-runners [--jobs 12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAX_DURATION_S = 300
MAX_CLIENTS = 200
MAX_REQUESTS = 5_000_000
MAX_SUBMISSIONS = 2_000
#: Targets from the issue (a benchmark, not a test: they are reported, not asserted).
TARGET_STATUS_RPS = 3000
TARGET_OVERHEAD_P50_MS = 30.0


# --- pictures ---------------------------------------------------------------------------------


def disc_png(size: int = 128) -> bytes:
    yy, xx = np.mgrid[:size, :size]
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size * 0.4) ** 2] = (200, 60, 40, 255)
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(png: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = f"orfeasbench{random.getrandbits(32):08x}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="disc.png"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + png
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- a minimal HTTP/1.1 keep-alive client -----------------------------------------------------


class Connection:
    """One keep-alive connection; requests are sent one after another on it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status, headers = await self._head()
        data = await self._body(headers)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, data

    async def _head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return status, headers

    async def _body(self, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = bytearray()
            async for chunk in self._chunks():
                out += chunk
            return bytes(out)
        return b""

    async def _chunks(self) -> Any:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            chunk = await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            yield chunk

    async def stream_events(self, path: str) -> tuple[int, list[dict[str, Any]]]:
        """Follow an SSE stream to its end; returns the status and every Job JSON received."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        status, headers = await self._head()
        if status != 200:
            await self._body(headers)
            return status, []
        events: list[dict[str, Any]] = []
        buffer = b""
        async for chunk in self._chunks():
            buffer += chunk
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                for line in message.split(b"\n"):
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))
        return status, events


# --- recording --------------------------------------------------------------------------------


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    submissions: int = 0

    def add(self, route: str, status: int, seconds: float) -> None:
        self.requests += 1
        self.latencies[route].append(seconds)
        self.statuses[route][status] += 1
        if not (200 <= status < 300 or status in (404, 429, 503)):
            self.errors.append(f"{route}: HTTP {status}")

    def summary(self, elapsed: float) -> dict[str, Any]:
        routes = {}
        for route, values in sorted(self.latencies.items()):
            values.sort()
            routes[route] = {
                "count": len(values),
                "rps": round(len(values) / elapsed, 1),
                "p50_ms": round(1000 * values[len(values) // 2], 2),
                "p99_ms": round(1000 * values[min(len(values) - 1, int(len(values) * 0.99))], 2),
                "statuses": {str(k): v for k, v in sorted(self.statuses[route].items())},
            }
        throttled = sum(s.get(429, 0) + s.get(503, 0) for s in self.statuses.values())
        return {
            "seconds": round(elapsed, 2),
            "requests": self.requests,
            "rps": round(self.requests / elapsed, 1),
            "routes": routes,
            "errors": len(self.errors),
            "error_samples": self.errors[:10],
            "throttled_429_503": throttled,
        }


# --- phases -----------------------------------------------------------------------------------


async def status_phase(
    host: str, port: int, job_ids: list[str], clients: int, seconds: float
) -> dict[str, Any]:
    rec = Recorder()
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        conn = Connection(host, port)
        path = f"/api/v1/jobs/{job_ids[i % len(job_ids)]}"
        try:
            while time.perf_counter() < stop and rec.requests < MAX_REQUESTS:
                t = time.perf_counter()
                try:
                    status, _, _ = await conn.request("GET", path)
                except (OSError, asyncio.IncompleteReadError) as exc:
                    rec.errors.append(f"status: {type(exc).__name__}")
                    await conn.close()
                    continue
                rec.add("GET /api/v1/jobs/{id}", status, time.perf_counter() - t)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return rec.summary(time.perf_counter() - started)


async def mixed_phase(
    host: str, port: int, job_ids: list[str], clients: int, seconds: float, png: bytes
) -> dict[str, Any]:
    rec = Recorder()
    stop = time.perf_counter() + seconds
    known = list(job_ids)
    rng = random.Random(7)

    async def one(conn: Connection) -> None:
        roll = rng.random()
        t = time.perf_counter()
        if roll < 0.80:
            route, status = (
                "GET /api/v1/jobs/{id}",
                (await conn.request("GET", f"/api/v1/jobs/{rng.choice(known)}"))[0],
            )
        elif roll < 0.90:
            route, status = "GET /api/v1/jobs", (await conn.request("GET", "/api/v1/jobs?limit=10"))[0]
        elif roll < 0.96:
            route = "GET /api/v1/jobs/{id}/events"
            status, _ = await conn.stream_events(f"/api/v1/jobs/{rng.choice(known)}/events")
        else:
            route = "POST /api/v1/jobs"
            if rec.submissions >= MAX_SUBMISSIONS:
                return
            rec.submissions += 1
            body, ctype = multipart(png, {"mode": "relief", "target_faces": "2000", "formats": "stl"})
            status, _, data = await conn.request("POST", "/api/v1/jobs", body, ctype)
            if status == 202:
                known.append(json.loads(data)["id"])
        rec.add(route, status, time.perf_counter() - t)

    async def client() -> None:
        conn = Connection(host, port)
        try:
            while time.perf_counter() < stop and rec.requests < MAX_REQUESTS:
                try:
                    await one(conn)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    rec.errors.append(f"mixed: {type(exc).__name__}: {exc}")
                    await conn.close()
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    summary = rec.summary(time.perf_counter() - started)
    summary["submissions"] = rec.submissions
    return summary


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def overhead_phase(
    host: str, port: int, jobs: int, png: bytes, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """Submit→succeeded one job at a time (idle server), split into the worker's part and the rest."""
    fields = fields or {"mode": "relief", "target_faces": "2000", "formats": "stl"}
    conn = Connection(host, port)
    beyond_run: list[float] = []
    beyond_stages: list[float] = []
    totals: list[float] = []
    try:
        for _ in range(jobs):
            body, ctype = multipart(png, fields)
            t = time.perf_counter()
            status, _, data = await conn.request("POST", "/api/v1/jobs", body, ctype)
            assert status == 202, data
            job = json.loads(data)
            events_conn = Connection(host, port)
            _, events = await events_conn.stream_events(f"/api/v1/jobs/{job['id']}/events")
            total = time.perf_counter() - t
            await events_conn.close()
            final = events[-1]
            assert final["state"] == "succeeded", final
            run = _ts(final["finished_at"]) - _ts(final["started_at"])
            totals.append(total)
            beyond_run.append(total - run)
            beyond_stages.append(total - sum(final["timings"].values()))
    finally:
        await conn.close()

    def ms(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {"p50_ms": round(1000 * statistics.median(values), 2), "max_ms": round(1000 * values[-1], 2)}

    return {
        "jobs": jobs,
        "submit_to_succeeded": ms(totals),
        "beyond_worker_run": ms(beyond_run),
        "beyond_generation_stages": ms(beyond_stages),
    }


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss(pid: int) -> dict[str, float]:
    proc = psutil.Process(pid)
    own = proc.memory_info().rss
    tree = own + sum(c.memory_info().rss for c in proc.children(recursive=True) if c.is_running())
    return {"server_mb": round(own / 2**20, 1), "with_workers_mb": round(tree / 2**20, 1)}


def start_server(
    data_dir: Path, workers: int, log: Path, cache: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """A real server; the result cache is off unless asked for: the phases submit one picture again
    and again, and would otherwise measure cache answers instead of the queue and the workers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
    env.update(
        ORFEAS_HOST="127.0.0.1",
        ORFEAS_PORT=str(port),
        ORFEAS_DATA_DIR=str(data_dir),
        ORFEAS_WORKERS=str(workers),
        ORFEAS_QUEUE_SIZE="32",
        ORFEAS_RATE_LIMIT_REQUESTS_PER_MINUTE="0",
        ORFEAS_RATE_LIMIT_SUBMISSIONS_PER_MINUTE="0",
        ORFEAS_CACHE_ENABLED=str(cache).lower(),
        PYTHONPATH=str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orfeas.api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc, port
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not become ready")


async def seed_jobs(host: str, port: int, count: int, png: bytes) -> list[str]:
    conn = Connection(host, port)
    ids = []
    try:
        for _ in range(count):
            body, ctype = multipart(png, {"mode": "relief", "target_faces": "2000", "formats": "stl"})
            status, _, data = await conn.request("POST", "/api/v1/jobs", body, ctype)
            assert status == 202, data
            ids.append(json.loads(data)["id"])
        for job_id in ids:
            _, events = await Connection(host, port).stream_events(f"/api/v1/jobs/{job_id}/events")
            assert events and events[-1]["state"] == "succeeded", events[-1:]
    finally:
        await conn.close()
    return ids


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    png = disc_png(128)
    with tempfile.TemporaryDirectory(prefix="orfeas-load-") as tmp:
        proc, port = start_server(Path(tmp) / "data", args.workers, Path(tmp) / "server.log")
        host = "127.0.0.1"
        try:
            result: dict[str, Any] = {"rss_start": rss(proc.pid)}
            ids = asyncio.run(seed_jobs(host, port, 10, png))
            print(f"status phase: {args.clients} clients × {args.status_seconds:g} s …", flush=True)
            result["status"] = asyncio.run(status_phase(host, port, ids, args.clients, args.status_seconds))
            print(f"mixed phase: {args.clients} clients × {args.duration:g} s …", flush=True)
            result["mixed"] = asyncio.run(mixed_phase(host, port, ids, args.clients, args.duration, png))
            print(f"overhead phase: {args.overhead_jobs} jobs one at a time …", flush=True)
            time.sleep(2)  # let the queue drain: overhead is measured on an idle server
            result["overhead"] = asyncio.run(overhead_phase(host, port, args.overhead_jobs, png))
            result["rss_end"] = rss(proc.pid)
        finally:
            stop(proc)
        print(f"cache phase: {args.overhead_jobs} identical submissions …", flush=True)
        proc, port = start_server(Path(tmp) / "cached", args.workers, Path(tmp) / "cached.log", cache=True)
        try:
            result["cache"] = asyncio.run(cache_phase(host, port, args.overhead_jobs, png))
        finally:
            stop(proc)
    return result


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def cache_phase(host: str, port: int, jobs: int, png: bytes) -> dict[str, Any]:
    """The first submission generates; the same one again is answered from the result cache. Both
    timed submit→succeeded in the same run, so their ratio is what the cache saves."""
    fields = {"mode": "puffy", "target_faces": "20000", "formats": "stl,glb"}
    await overhead_phase(host, port, 2, png)  # warm-up (other parameters): runner start, imports
    first = await overhead_phase(host, port, 1, png, fields)
    conn = Connection(host, port)
    hits: list[float] = []
    try:
        for _ in range(jobs):
            body, ctype = multipart(png, fields)
            t = time.perf_counter()
            status, _, data = await conn.request("POST", "/api/v1/jobs", body, ctype)
            hits.append(time.perf_counter() - t)
            job = json.loads(data)
            assert status == 202 and job["cached"] and job["state"] == "succeeded", data
    finally:
        await conn.close()
    generated_ms = first["submit_to_succeeded"]["p50_ms"]
    hit_ms = round(1000 * statistics.median(hits), 2)
    return {"generated_ms": generated_ms, "hit_p50_ms": hit_ms, "speedup": round(generated_ms / hit_ms, 1)}


# --- process vs thread runners ----------------------------------------------------------------


def compare_runners(args: argparse.Namespace) -> dict[str, Any]:
    """Same batch through the worker pool with process runners and with thread runners."""
    sys.path.insert(0, str(ROOT / "src"))
    from orfeas.jobs.states import Job
    from orfeas.jobs.store import JobStore
    from orfeas.jobs.worker import WorkerPool, new_job_id
    from orfeas.settings import Settings

    png = disc_png(args.size)
    out: dict[str, Any] = {"jobs": args.jobs, "size_px": args.size, "workers": args.workers, "runs": {}}
    for repeat in range(args.repeat):
        for mode in ("process", "thread"):
            with tempfile.TemporaryDirectory(prefix="orfeas-runners-") as tmp:
                settings = Settings(
                    data_dir=Path(tmp), workers=args.workers, queue_size=args.jobs, worker_mode=mode
                )
                store = JobStore(settings.data_dir)
                pool = WorkerPool(store, settings)
                pool.start()
                pool.wait_ready(60)
                warm = pool.submit(
                    Job(id=new_job_id(), engine="relief", params={"mode": "puffy"}, formats=("stl",)), png
                )
                while not store.get(warm.id).finished:  # type: ignore[union-attr]
                    time.sleep(0.005)
                started = time.perf_counter()
                ids = [
                    pool.submit(
                        Job(
                            id=new_job_id(),
                            engine="relief",
                            params={"mode": "puffy"},
                            formats=tuple(args.formats),
                        ),
                        png,
                    ).id
                    for _ in range(args.jobs)
                ]
                while not all(store.get(i).finished for i in ids):  # type: ignore[union-attr]
                    time.sleep(0.005)
                elapsed = time.perf_counter() - started
                assert all(store.get(i).state.value == "succeeded" for i in ids)  # type: ignore[union-attr]
                pool.stop()
                store.close()
            out["runs"].setdefault(mode, []).append(round(elapsed, 3))
            print(f"  {mode:7s} run {repeat + 1}: {elapsed:.2f} s", flush=True)
    for mode, runs in out["runs"].items():
        out[f"{mode}_median_s"] = statistics.median(runs)
    out["thread_over_process"] = round(out["thread_median_s"] / out["process_median_s"], 3)
    return out


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="mixed phase seconds")
    parser.add_argument("--status-seconds", type=float, default=10.0, help="status-only phase seconds")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="generation workers")
    parser.add_argument("--overhead-jobs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--compare-runners", action="store_true", help="process vs thread runners")
    parser.add_argument("--jobs", type=int, default=12, help="(--compare-runners) jobs per run")
    parser.add_argument("--repeat", type=int, default=3, help="(--compare-runners) runs per kind")
    parser.add_argument("--size", type=int, default=256, help="(--compare-runners) picture size")
    parser.add_argument("--formats", nargs="+", default=["stl", "3mf", "obj", "glb", "ply"])
    args = parser.parse_args()
    if not 0 < args.duration <= MAX_DURATION_S or not 0 < args.status_seconds <= MAX_DURATION_S:
        parser.error(f"durations must be within (0, {MAX_DURATION_S}] s")
    if not 0 < args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be within 1..{MAX_CLIENTS}")

    meta = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine()}
    if args.compare_runners:
        print(
            f"runner comparison: {args.jobs} puffy jobs of {args.size} px, {args.workers} workers", flush=True
        )
        result = {"benchmark": "runners", **meta, **compare_runners(args)}
        out = args.out or HERE / "results" / "runners.json"
        print(
            f"process {result['process_median_s']:.2f} s, thread {result['thread_median_s']:.2f} s "
            f"(threads take {result['thread_over_process']:.2f}× the time of processes)"
        )
    else:
        result = {"benchmark": "load", **meta, "clients": args.clients, **run_load(args)}
        out = args.out or HERE / "results" / "load.json"
        print_summary(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    errors = result.get("status", {}).get("errors", 0) + result.get("mixed", {}).get("errors", 0)
    return 1 if errors else 0


def print_summary(result: dict[str, Any]) -> None:
    for phase in ("status", "mixed"):
        data = result[phase]
        print(
            f"\n{phase}: {data['rps']:.0f} req/s over {data['seconds']:.0f} s, errors {data['errors']}, "
            f"429/503 {data['throttled_429_503']}"
        )
        for route, r in data["routes"].items():
            print(
                f"  {route:32s} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
                f"{r['statuses']}"
            )
    status_rps = result["status"]["routes"].get("GET /api/v1/jobs/{id}", {}).get("rps", 0.0)
    overhead = result["overhead"]
    print(f"\njob status: {status_rps:.0f} req/s (target ≥ {TARGET_STATUS_RPS})")
    print(
        f"submit→succeeded p50 {overhead['submit_to_succeeded']['p50_ms']:.1f} ms; beyond the worker's run "
        f"{overhead['beyond_worker_run']['p50_ms']:.1f} ms, beyond the generation stages "
        f"{overhead['beyond_generation_stages']['p50_ms']:.1f} ms "
        f"(target ≤ {TARGET_OVERHEAD_P50_MS:g} ms p50)"
    )
    cache = result["cache"]
    print(
        f"result cache: a repeated submission answers in {cache['hit_p50_ms']:.1f} ms p50 vs "
        f"{cache['generated_ms']:.0f} ms to generate it ({cache['speedup']:g}× faster)"
    )
    print(f"RSS start {result['rss_start']}, end {result['rss_end']}")


if __name__ == "__main__":
    sys.exit(main())
