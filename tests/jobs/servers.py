"""Real PostgreSQL and Redis servers for tests, from the distribution's packages, on loopback.

Each runs in a private temporary directory on a free port and is stopped at exit. As root (CI), the
PostgreSQL cluster is created and run as the ``postgres`` system user (``initdb`` refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require, require_tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _wait_port(port: int, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {limit_s} s")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster; yields an admin URL ``postgresql://orfeas@127.0.0.1:<port>/postgres``."""
    bindir = _pg_bin()
    require(bindir is not None, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="orfeas-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    run = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "orfeas"], **run)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        **run,
    )
    try:
        _wait_port(port)
        yield f"postgresql://orfeas@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(root, ignore_errors=True)


def new_database(admin_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``admin_url``; returns its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


class RedisServer:
    """``redis-server`` on a free loopback port with an append-only file: a restart keeps the queue."""

    def __init__(self) -> None:
        self.exe = require_tool("redis-server")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="orfeas-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


try:  # the `scale` extra: only the scale-out tests need it
    import celery  # noqa: F401
    import psycopg  # noqa: F401
    import redis  # noqa: F401

    HAVE_SCALE = True
except ImportError:
    HAVE_SCALE = False


class ScaleCluster:
    """Redis, a PostgreSQL database, a shared artifact directory and one ``orfeas worker`` process.

    Made for a whole test session: :meth:`ensure_worker` keeps the running worker while the
    worker-side settings asked for are equal and restarts it when they differ; :meth:`reset` empties
    the broker queue, the job tables and the artifact directory so the next test starts clean.
    """

    def __init__(self, root: Path, redis_server: RedisServer, database_url: str) -> None:
        self.root = root
        self.redis = redis_server
        self.database_url = database_url
        self.artifacts = root / "shared"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_key: dict[str, str] | None = None
        self.worker_starts = 0
        self._paused = False

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path) -> Iterator[ScaleCluster]:
        from orfeas.jobs.db import PostgresDatabase
        from orfeas.jobs.store import JobStore

        redis_server = RedisServer()
        redis_server.start()
        try:
            with postgres_server() as admin:
                url = new_database(admin, "api_tests")
                JobStore(root / "schema", PostgresDatabase(url)).close()  # the schema, before any reset
                cluster = cls(root, redis_server, url)
                try:
                    yield cluster
                finally:
                    cluster.stop_worker()
        finally:
            redis_server.close()

    def api_settings(self) -> dict[str, object]:
        """The settings an API process needs to use this cluster."""
        return {
            "queue": "celery",
            "broker_url": self.redis.url,
            "database_url": self.database_url,
            "artifact_dir": self.artifacts,
        }

    def worker_env(self, settings: dict[str, str], data_dir: Path | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
        env.update(
            ORFEAS_QUEUE="celery",
            ORFEAS_BROKER_URL=self.redis.url,
            ORFEAS_DATABASE_URL=self.database_url,
            ORFEAS_DATA_DIR=str(data_dir or self.root / "worker-data"),
            ORFEAS_ARTIFACT_DIR=str(self.artifacts),
            ORFEAS_WORKERS="1",
            ORFEAS_CACHE_ENABLED="false",
        )
        env.update({f"ORFEAS_{k.upper()}": v for k, v in settings.items()})
        return env

    # --- the worker ---------------------------------------------------------------------------
    def ensure_worker(self, settings: dict[str, object]) -> None:
        """A running worker with exactly these worker-side settings (others at their defaults)."""
        key = {k: str(v) for k, v in settings.items()}
        if self.worker is not None and self.worker.poll() is None and key == self.worker_key:
            return
        self.stop_worker()
        self.worker = start_worker(self.worker_env(key), self.root / f"worker-{self.worker_starts}.log")
        self.worker_key = key
        self.worker_starts += 1

    def pause_worker(self) -> None:
        """Stop the worker taking jobs (SIGSTOP) until :meth:`reset`: submitted jobs stay queued."""
        if self.worker is not None and self.worker.poll() is None and not self._paused:
            os.killpg(self.worker.pid, signal.SIGSTOP)
            self._paused = True

    def _resume_worker(self) -> None:
        if self._paused and self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGCONT)
        self._paused = False

    def stop_worker(self) -> None:
        if self.worker is not None:
            stop_worker(self.worker)
        self.worker, self.worker_key, self._paused = None, None, False

    # --- between tests ------------------------------------------------------------------------
    def reset(self, limit_s: float = 30.0) -> None:
        """Empty the broker queue, end every job (cancel), empty the tables and the artifacts."""
        import psycopg
        import redis

        from orfeas.jobs.distributed import QUEUE_NAME

        self._resume_worker()
        client = redis.Redis(host="127.0.0.1", port=self.redis.port)
        try:  # the queue and kombu's unacknowledged set; the exchange bindings stay
            client.delete(QUEUE_NAME, "unacked", "unacked_index")
        finally:
            client.close()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            # a message the worker already took finds its job cancelled and skips it
            conn.execute("UPDATE jobs SET state = 'cancelled' WHERE state = 'queued'")
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE state = 'running'")
            deadline = time.monotonic() + limit_s
            while _count(conn, "SELECT count(*) FROM jobs WHERE state = 'running'"):
                if time.monotonic() > deadline:  # a stuck job: the worker goes, and so does the job
                    self.stop_worker()
                    conn.execute("UPDATE jobs SET state = 'failed' WHERE state = 'running'")
                    break
                time.sleep(0.05)
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'schema_version'"
                )
            ]
            conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        for entry in self.artifacts.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _count(conn: object, sql: str) -> int:
    row = conn.execute(sql).fetchone()  # type: ignore[attr-defined]
    return int(row[0]) if row else 0


def start_worker(env: dict[str, str], log: Path, ready_limit_s: float = 60.0) -> subprocess.Popen[bytes]:
    """Start ``orfeas worker`` (its own process group) and wait until Celery says it is ready."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from orfeas.cli import main; main(['worker'])"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + ready_limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()}")
        if b" ready." in log.read_bytes():
            return proc
        time.sleep(0.05)
    stop_worker(proc)
    raise AssertionError(f"worker not ready after {ready_limit_s} s:\n{log.read_text()}")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """``kill -9`` a worker and its runner processes (tests do not need a warm shutdown)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
