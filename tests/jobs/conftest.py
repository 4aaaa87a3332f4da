"""Fixtures for the job store and the worker pool: a private data dir, small images, a started pool."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orfeas.jobs.db import PostgresDatabase
from orfeas.jobs.queue import JobEvent, new_job_id
from orfeas.jobs.states import Job, JobState
from orfeas.jobs.store import JobStore
from orfeas.jobs.worker import WorkerPool
from orfeas.settings import Settings
from orfeas.spec import JobSpec
from tests.conftest import disc_rgba, png_bytes
from tests.jobs.servers import new_database, postgres_server


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A real PostgreSQL server for this test process (skipped locally, a failure in CI, if missing)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """The job store on each backend: the embedded SQLite and a real PostgreSQL."""
    db = None
    if request.param == "postgresql":
        admin = request.getfixturevalue("pg_admin_url")
        db = PostgresDatabase(new_database(admin, f"t_{uuid.uuid4().hex[:12]}"))
    s = JobStore(tmp_path / "data", db)
    yield s
    s.close()


@pytest.fixture
def small_png() -> bytes:
    return png_bytes(disc_rgba(128))


def make_job(**fields: object) -> Job:
    """A queued relief job with small settings; override any field of the job or of its spec."""
    spec: dict[str, object] = {
        "engine": "relief",
        "params": {"mode": "relief", "target_faces": 2000},
        "formats": ("stl", "glb"),
    }
    job: dict[str, object] = {"id": new_job_id()}
    for name, value in fields.items():
        (spec if name in JobSpec.model_fields else job)[name] = value
    return Job(spec=JobSpec.model_validate(spec), **job)  # type: ignore[arg-type]


class Recorder:
    """A pool listener that keeps every event (listeners run on worker threads)."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)

    def kinds(self, job_id: str) -> list[str]:
        return [e.kind for e in self.events if e.job.id == job_id]


def wait_finished(store: JobStore, job_id: str, limit_s: float = 120.0) -> Job:
    """Wait until the job is in a terminal state (the limit only guards against a hang)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        job = store.get(job_id)
        assert job is not None
        if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {store.get(job_id)}")


@pytest.fixture
def start_pool(tmp_path: Path) -> Iterator[Callable[..., tuple[WorkerPool, JobStore, Recorder]]]:
    """Start a pool on a private data dir; ``start_pool(workers=1, mode="thread", ...)``."""
    started: list[tuple[WorkerPool, JobStore]] = []

    def start(store: JobStore | None = None, **overrides: object) -> tuple[WorkerPool, JobStore, Recorder]:
        options: dict[str, object] = {"data_dir": tmp_path / "data", "workers": 1, "queue_size": 4}
        options.update(overrides)
        settings = Settings(**options)  # type: ignore[arg-type]
        store = store or JobStore(settings.data_dir)
        pool = WorkerPool(store, settings)
        recorder = Recorder()
        pool.add_listener(recorder)
        pool.start()
        started.append((pool, store))
        return pool, store, recorder

    yield start
    for pool, store in started:
        pool.stop()
        store.close()
