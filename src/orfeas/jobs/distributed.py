"""Scale-out: jobs run by Celery workers (``orfeas worker``) over a Redis broker and a shared job store.

The API side is :class:`CeleryQueue`, which has the interface of :class:`orfeas.jobs.worker.WorkerPool`
(``submit``, ``cancel``, ``waiting``, ``running``, ``retry_after``, ``start``/``stop``) so the routes do
not know which one they talk to: the job row is stored, then the job id is published; if the broker
refuses it the row is deleted again and the client gets 503 — nothing accepted is lost.

The worker side is the task :func:`run_job`: it runs the job through the *same* code the local pool
uses (:meth:`WorkerPool._run_one` with a thread runner — Celery's prefork children cannot have
children), reporting stage and progress to the shared store. Task settings for long GPU jobs: acks late,
prefetch 1, reject on worker lost (a ``kill -9`` redelivers the job), a visibility timeout above
``job_timeout_s``, and retries only for infrastructure faults (database or broker connection errors),
never for a job's own failure, which is recorded as the job's outcome.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from celery import Celery, signals

from orfeas.jobs.db import open_database
from orfeas.jobs.states import FailureReason, Job, JobState
from orfeas.jobs.store import JobStore, Recovery
from orfeas.jobs.worker import JobEvent, QueueFull, WorkerPool
from orfeas.settings import Settings, get_settings

log = logging.getLogger("orfeas.jobs.distributed")

QUEUE_NAME = "orfeas-jobs"
TASK_NAME = "orfeas.run_job"


class BrokerUnavailable(QueueFull):
    """The broker could not take the job; nothing was stored."""

    code = "broker_unavailable"


def make_celery(settings: Settings) -> Celery:
    """The Celery app for ``settings`` (the same configuration on the API and on the workers)."""
    app = Celery("orfeas", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE_NAME,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={
            # a job not acknowledged within this is redelivered: longer than any job may run
            "visibility_timeout": math.ceil(settings.job_timeout_s * 2 + 60),
        },
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    app.task(name=TASK_NAME, bind=True, acks_late=True, max_retries=3)(run_job)
    return app


# --- API side -----------------------------------------------------------------------------------
class CeleryQueue:
    """The job queue as Celery sees it, with the interface of the local :class:`WorkerPool`."""

    mode = "celery"

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.app = make_celery(settings)
        self._listeners: list[Any] = []
        self.started_at: float | None = None
        self._avg_job_s = 5.0

    def add_listener(self, listener: Any) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: str, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None:
            return
        for listener in list(self._listeners):
            try:
                listener(JobEvent(kind, job, time.time()))  # type: ignore[arg-type]
            except Exception:
                log.exception("job listener %r failed", listener)

    def start(self) -> Recovery:
        """No local recovery: an interrupted job is redelivered by the broker to another worker."""
        self.started_at = time.time()
        return Recovery((), (), tuple(j.id for j in self.store.list(JobState.QUEUED, limit=1000)[0]))

    def stop(self, timeout: float = 10.0) -> None:
        self.app.close()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return True

    def alive(self) -> bool:
        return True

    @property
    def waiting(self) -> int:
        return self.store.count(JobState.QUEUED)

    @property
    def running(self) -> int:
        return self.store.count(JobState.RUNNING)

    def broker_depth(self) -> int | None:
        """Messages waiting in the broker's queue (``None`` when the broker does not answer)."""
        try:
            with self.app.connection_for_write() as conn:
                return int(conn.default_channel.client.llen(QUEUE_NAME))
        except Exception:
            return None

    def retry_after(self) -> int:
        return max(1, min(300, math.ceil(self._avg_job_s * (self.waiting + 1) / self.settings.workers)))

    def submit(self, job: Job, input_png: bytes | None = None) -> Job:
        """Store the job, then publish it; when the broker refuses, remove the row and raise 503."""
        if self.waiting >= self.settings.queue_size:
            raise QueueFull("The job queue is full; try again later.", retry_after=self.retry_after())
        created = self.store.create(job, input_png)
        try:
            self.app.send_task(
                TASK_NAME,
                args=(created.id,),
                queue=QUEUE_NAME,
                retry=True,
                retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.2},
            )
        except Exception as exc:
            log.warning("broker refused job %s (%s); it was not accepted", created.id, exc)
            self.store.cancel_if_queued(created.id)  # delete() removes finished jobs only
            self.store.delete(created.id)
            raise BrokerUnavailable(
                "The job queue (message broker) is unreachable; the job was not accepted. Try again later.",
                retry_after=5,
            ) from exc
        self._emit("submitted", created.id)
        return created

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now (its message is then skipped); ask a running one to stop."""
        if self.store.cancel_if_queued(job_id):
            self._emit("cancelled", job_id)
        else:
            self.store.request_cancel(job_id)  # the worker polls the flag
        return self.store.get(job_id)


# --- worker side --------------------------------------------------------------------------------
_worker: dict[str, Any] = {}
_worker_lock = threading.Lock()


def _worker_pool() -> WorkerPool:
    """This worker process's store and a pool used only for its single-job code path."""
    with _worker_lock:
        pool = _worker.get("pool")
        if pool is None:
            settings = get_settings()
            db = open_database(settings.database_url, settings.data_dir)
            store = JobStore(settings.data_dir, db, jobs_dir=settings.jobs_dir())
            pool = WorkerPool(store, settings.model_copy(update={"workers": 1}), mode="thread")
            _worker["pool"] = pool
        return pool


@signals.worker_process_shutdown.connect
def _close_store(**_: Any) -> None:
    pool = _worker.pop("pool", None)
    if pool is not None:
        pool.store.close()


def _watch_cancel(pool: WorkerPool, job_id: str, done: threading.Event) -> None:
    """Forward a cancel request made on the API (a flag in the shared store) to the runner."""
    while not done.wait(0.5):
        job = pool.store.get(job_id)
        if job is not None and job.cancel_requested:
            pool._cancel.add(job_id)
            return


def run_job(task: Any, job_id: str) -> str:
    """Run one job to its end state; returns that state. Redelivered after a lost worker: re-run it."""
    from orfeas.jobs.runner import Runner

    pool = _worker_pool()
    store = pool.store
    try:
        job = store.get(job_id)
        if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            return job.state.value if job else "missing"
        if job.state is JobState.RUNNING:
            # only a redelivery finds it running: the worker that had it died (kill -9, lost node)
            if job.attempts >= pool.settings.max_attempts:
                pool._finish_failed(
                    job_id, FailureReason.INTERRUPTED, "The job's workers were lost too many times."
                )
                return JobState.FAILED.value
            store.release(job_id)
            store.db.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?", (job_id,))
        claimed = store.claim(job_id)
        if claimed is None:  # cancelled while queued, or another delivery took it
            return "skipped"
    except Exception as exc:  # the database is unreachable: an infrastructure fault, retry
        raise task.retry(exc=exc, countdown=5) from exc
    done = threading.Event()
    watcher = threading.Thread(target=_watch_cancel, args=(pool, job_id, done), daemon=True)
    watcher.start()
    runner = Runner("thread")
    try:
        pool._run_one(claimed, runner)
    finally:
        done.set()
        runner.stop(kill=True)
    final = store.get(job_id)
    return final.state.value if final else "missing"


def worker_main(settings: Settings, extra: list[str] | None = None) -> int:
    """``orfeas worker``: a Celery worker with ``settings.workers`` processes (and its /metrics port)."""
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    app = make_celery(settings)
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={settings.workers}",
        f"--queues={QUEUE_NAME}",
        "--without-gossip",
        "--without-mingle",
        *(extra or []),
    ]
    app.worker_main(argv)
    return 0
