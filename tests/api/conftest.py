"""Fixtures for the HTTP service: in-process apps (TestClient) and real uvicorn servers.

``live_server(**settings)`` starts ``python -m orfeas.api`` on a free loopback port with
``ORFEAS_*`` variables and returns a :class:`LiveServer`; it is stopped (or found killed) at
teardown. In-process apps use the same settings through ``make_client(**settings)``.

``make_client`` and ``client`` run every test on two backends (issue 7, "parametrise, don't copy"):

- ``embedded``: the local worker pool and SQLite in the test's data dir (the default service);
- ``celery`` (marked ``integration``): queue=celery over a real ``redis-server``, the job store on a
  real PostgreSQL, artifacts in a shared directory and a real ``orfeas worker`` process running the
  jobs. The servers live for the session; the worker is reused while the worker-side settings a test
  asks for are equal, restarted when they differ; each test starts on an empty database, broker queue
  and artifact directory. ``tc.data_dir / "jobs"`` is a link to that shared directory, so
  ``job_files(tc.data_dir)`` sees the artifacts where the worker really wrote them. A test calling
  ``runtime.jobs.queue.stop()`` ("nothing runs") pauses the worker (SIGSTOP) for the rest of the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from orfeas.api import create_app
from orfeas.settings import Settings
from tests.conftest import disc_rgba, png_bytes, require

TERMINAL = {"succeeded", "failed", "cancelled"}

#: Small, fast jobs: tests are about the service, not mesh quality.
FAST = {"target_faces": "2000"}


def app_settings(data_dir: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "data_dir": data_dir,
        "workers": 1,
        "queue_size": 8,
        "rate_limit_requests_per_minute": 0,
        "rate_limit_submissions_per_minute": 0,
        # Tests about the queue submit the same picture again and again; the cache has its own tests.
        "cache_enabled": False,
    }
    options.update(overrides)
    return Settings(**options)


@pytest.fixture
def small_png() -> bytes:
    return png_bytes(disc_rgba(128))


#: The backends every ``client``/``make_client`` test runs on.
BACKENDS = ("embedded", pytest.param("celery", marks=pytest.mark.integration))

#: Settings only the API reads: tests may differ in these and still share one worker process.
API_ONLY = frozenset(
    {
        "api_keys",
        "protect_metrics",
        "cors_origins",
        "cache_enabled",
        "cache_max_bytes",
        "disk_budget_bytes",
        "retention_hours",
        "maintenance_interval_s",
        "queue_size",
        "rate_limit_requests_per_minute",
        "rate_limit_submissions_per_minute",
        "metrics_enabled",
        "max_upload_bytes",
    }
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``embedded`` (local pool, SQLite) or ``celery`` (Redis, PostgreSQL, an ``orfeas worker``)."""
    return str(request.param)


@pytest.fixture(scope="session")
def celery_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Redis, PostgreSQL and a (restartable) worker for the whole session; see tests.jobs.servers."""
    from tests.jobs.servers import HAVE_SCALE, ScaleCluster

    require(HAVE_SCALE, "the `scale` extra (celery, psycopg, redis) is not installed")
    with ScaleCluster.running(tmp_path_factory.mktemp("scale")) as cluster:
        yield cluster


@pytest.fixture
def make_client(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**settings)``: a started in-process app on a private data dir, on ``backend``."""
    clients: list[TestClient] = []
    closers: list[Callable[[], None]] = []  # the Celery queues' own stop (closes broker connections)
    cluster = request.getfixturevalue("celery_cluster") if backend == "celery" else None

    def make(client: tuple[str, int] = ("127.0.0.1", 50000), **overrides: Any) -> TestClient:
        data_dir = tmp_path / f"data{len(clients)}"
        if cluster is not None:
            cluster.ensure_worker({k: v for k, v in overrides.items() if k not in API_ONLY})
            data_dir.mkdir(parents=True)
            (data_dir / "jobs").symlink_to(cluster.artifacts, target_is_directory=True)
            overrides = {**cluster.api_settings(), **overrides}
        tc = TestClient(create_app(app_settings(data_dir, **overrides)), client=client)
        tc.__enter__()
        tc.data_dir = data_dir  # type: ignore[attr-defined]
        tc.backend = backend  # type: ignore[attr-defined]
        if cluster is not None:
            # "stop the pool so nothing runs": with Celery, nothing runs while the worker is paused
            pool = tc.app.state.runtime.jobs.queue
            closers.append(pool.stop)
            pool.stop = lambda timeout=10.0: cluster.pause_worker()
        clients.append(tc)
        return tc

    try:
        yield make
    finally:
        for tc in clients:
            tc.__exit__(None, None, None)
        for close in closers:
            close()
        if cluster is not None:
            cluster.reset()


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def wait_job(get: Callable[[str], httpx.Response], job_id: str, limit_s: float = 180.0) -> dict[str, Any]:
    """Poll a job until it is finished (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in TERMINAL:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def job_files(data_dir: Path) -> list[Path]:
    """Every file under the data dir's job folders."""
    jobs = data_dir / "jobs"
    return sorted(p for p in jobs.rglob("*") if p.is_file()) if jobs.exists() else []


# --- real servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A ``python -m orfeas.api`` process on a loopback port."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def kill(self) -> None:
        """``kill -9`` the server process."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)


def start_server(
    data_dir: Path, log_dir: Path, *, ready_path: str = "/readyz", **settings: Any
) -> LiveServer:
    """Start ``python -m orfeas.api`` and wait until ``ready_path`` answers 200 (``/healthz``: up, even
    with no worker; with queue=celery ``/readyz`` needs a worker to answer)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
    env.update(
        {
            "ORFEAS_HOST": "127.0.0.1",
            "ORFEAS_PORT": str(port),
            "ORFEAS_DATA_DIR": str(data_dir),
            "ORFEAS_WORKERS": "1",
            "ORFEAS_RATE_LIMIT_REQUESTS_PER_MINUTE": "0",
            "ORFEAS_RATE_LIMIT_SUBMISSIONS_PER_MINUTE": "0",
            "ORFEAS_CACHE_ENABLED": "false",
        }
    )
    env.update({f"ORFEAS_{k.upper()}": str(v) for k, v in settings.items()})
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "orfeas.api"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", data_dir, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}{ready_path}", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"server did not become ready:\n{log.read_text()}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``live_server(data_dir=None, **settings)``: start a real server (several may run at once).

    Embedded only: its tests kill and restart the API process to check the local pool's crash
    recovery; with Celery the jobs run elsewhere (their kill -9 tests are in test_celery.py).
    """
    servers: list[LiveServer] = []

    def start(data_dir: Path | None = None, **settings: Any) -> LiveServer:
        server = start_server(data_dir or tmp_path / "data", tmp_path / "logs", **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One real server for a whole test module (starting one costs about a second), on each backend."""
    root = tmp_path_factory.mktemp("server")
    cluster = request.getfixturevalue("celery_cluster") if request.param == "celery" else None
    settings: dict[str, Any] = {"queue_size": 16}
    if cluster is not None:
        cluster.ensure_worker({})
        (root / "data").mkdir()
        (root / "data" / "jobs").symlink_to(cluster.artifacts, target_is_directory=True)
        settings.update(cluster.api_settings())
    server = start_server(root / "data", root / "logs", **settings)
    yield server
    server.stop()
    if cluster is not None:
        cluster.reset()
