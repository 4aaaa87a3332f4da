"""Scale-out: jobs run by Celery workers (``orfeas worker``) over a Redis broker and a shared job store.

The API side is :class:`CeleryQueue`, a :class:`~orfeas.jobs.queue.JobQueue` like the local
:class:`~orfeas.jobs.worker.WorkerPool`, so the service does not know which one it talks to: the
job row is stored, then the job id is published; if the broker refuses it the row is deleted again
and the client gets 503 — nothing accepted is lost. The workers
change jobs in the shared store; the API process watches the jobs it accepted there and tells its
listeners (event streams, metrics) as the local pool would.

The worker side is :class:`CeleryWorker`, whose task :meth:`CeleryWorker.run_job` runs the job through
the *same* code the local pool uses (:class:`~orfeas.jobs.execute.JobExecutor`), reporting stage and
progress to the shared store. Task settings for long GPU jobs: acks late, prefetch 1, reject on worker
lost, a visibility timeout just above ``job_timeout_s`` (a job of a worker that died as a whole is
handed out again after it), and retries only for infrastructure faults (database or broker connection
errors), never for a job's own failure, which is recorded as the job's outcome.

Process model and metrics. ``orfeas worker`` is one Celery worker process with a *threads* pool of
``settings.workers`` threads; each thread hands its jobs to its own runner process (``worker_mode``,
the forkserver children of :mod:`orfeas.jobs.runner`, kept warm across jobs), exactly as the local
pool's supervisor threads do. So a job still runs in its own process (no GIL contention between jobs,
a timeout or cancel can kill it), while all bookkeeping — and the metrics — stay in the one worker
process: it records the jobs it runs (:meth:`orfeas.metrics.Metrics.instrument_pool` on its pool:
generations, duration and stage durations, quality, faces, successes, failures, cancellations, queue
wait) in its own :class:`~orfeas.metrics.Metrics` registry, served on ``worker_metrics_port``.
Celery's default prefork pool was not kept: a prefork child cannot start runner processes (it is a
daemon), its metrics would be invisible to the parent's HTTP server (multiprocess mode does not
support the scrape-time collectors ORFEAS uses, and a port per child is hard to scrape), and a
runner in a thread could not be killed on timeout or cancel. ``kill -9`` of a worker takes its runner
processes with it (they die with their parent); the broker then redelivers the job.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from typing import Any

from celery import Celery

from orfeas.jobs.db import open_database
from orfeas.jobs.execute import JobExecutor
from orfeas.jobs.queue import EventKind, Listener, QueueFull, notify
from orfeas.jobs.runner import Runner, preload_process_runners
from orfeas.jobs.states import TERMINAL, FailureReason, Job, JobState
from orfeas.jobs.store import JobStore, Recovery
from orfeas.settings import Settings

log = logging.getLogger("orfeas.jobs.distributed")

QUEUE_NAME = "orfeas-jobs"
#: How often an API process looks for running jobs that no worker can still have (fail_lost).
LOST_SWEEP_S = 60.0
TASK_NAME = "orfeas.run_job"


class BrokerUnavailable(QueueFull):
    """The broker could not take the job; nothing was stored."""

    code = "broker_unavailable"


def visibility_timeout(settings: Settings) -> int:
    """Seconds before an unacknowledged job is handed to another worker: the job timeout plus a margin."""
    return math.ceil(settings.job_timeout_s * 1.25 + 15)


def make_celery(settings: Settings, run_job: Any = None) -> Celery:
    """The Celery app for ``settings`` (the same configuration on the API and on the workers);
    a worker passes ``run_job``, the task it serves."""
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
            # A job not acknowledged within this is redelivered (how a job of a worker that died as a
            # whole — kill -9, a lost machine — gets run again): longer than any job may run, since
            # the worker stops a job at job_timeout_s, but no longer than needed, as it is the delay
            # before such a job resumes.
            "visibility_timeout": visibility_timeout(settings),
            # look for such jobs every few seconds (kombu's default sweep is about every 100 s)
            "unacked_restore_interval": 5,
            "unacked_restore_throttle": 1,
        },
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    if run_job is not None:
        app.task(name=TASK_NAME, bind=True, acks_late=True, max_retries=3)(run_job)
    return app


# --- API side -----------------------------------------------------------------------------------
class CeleryQueue:
    """The job queue as Celery sees it, with the interface of the local :class:`WorkerPool`."""

    mode = "celery"

    def __init__(self, store: JobStore, settings: Settings, *, watch_interval_s: float = 0.2) -> None:
        self.store = store
        self.settings = settings
        self.app = make_celery(settings)
        self._listeners: list[Listener] = []
        self.started_at: float | None = None
        self._avg_job_s = 5.0
        self._watch_interval_s = watch_interval_s
        # jobs submitted here and not finished yet → (state, progress) last seen in the store
        self._watched: dict[str, tuple[JobState, float]] = {}
        self._watched_lock = threading.RLock()
        store.read_observers.append(self._observe)  # see _watch
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, kind: EventKind, job_id: str, job: Job | None = None) -> None:
        notify(self._listeners, kind, job or self.store.get(job_id))

    def start(self) -> Recovery:
        """No local recovery: an interrupted job is redelivered by the broker to another worker."""
        self.started_at = time.time()
        self._stopping.clear()
        self._watcher = threading.Thread(target=self._watch, name="orfeas-celery-watch", daemon=True)
        self._watcher.start()
        return Recovery((), (), tuple(j.id for j in self.store.list(JobState.QUEUED, limit=1000)[0]))

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
            self._watcher = None
        self.app.close()

    # The workers change jobs in the shared store, not here: this API process learns of the changes
    # to the jobs *it* accepted by reading the store — every 0.2 s, and on every read of such a job
    # through the store, so no client sees a state before this process's listeners have heard of it —
    # and tells its listeners as the local pool would (event streams wake at once; the API's metrics
    # count each job once, in the API process that took it).
    def _watch(self) -> None:
        next_sweep = time.monotonic() + LOST_SWEEP_S
        while not self._stopping.wait(self._watch_interval_s):
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + LOST_SWEEP_S
                self.fail_lost()
            with self._watched_lock:
                watched = dict(self._watched)
            if not watched:
                continue
            try:
                # one small query for all of them; the full job only for those that changed
                now = self.store.progress_of(list(watched))
                for job_id, seen in watched.items():
                    if now.get(job_id) != seen:
                        self.store.get(job_id)  # observed: see _observe
            except Exception:  # the store is unreachable for a moment: look again next time
                log.debug("could not read the watched jobs", exc_info=True)

    def fail_lost(self, now: float | None = None) -> list[str]:
        """Fail the jobs no worker can still be running, so none stays "running" forever.

        A live worker stops a job at ``job_timeout_s``; a dead worker's job is handed out again (and
        started anew) within the visibility timeout. A job running longer than both together, plus a
        margin, was lost with its message (say, a broker that lost its data).
        """
        limit = self.settings.job_timeout_s + visibility_timeout(self.settings) + 60
        try:
            lost = self.store.fail_lost(
                (now if now is not None else time.time()) - limit,
                "No worker has this job any more (its worker and its message were lost).",
            )
        except Exception:  # the store is unreachable for a moment: the next sweep tries again
            log.debug("could not look for lost jobs", exc_info=True)
            return []
        for job_id in lost:
            log.warning("job %s was lost with its worker and message: failed as interrupted", job_id)
            self.store.get(job_id)  # observed: its listeners hear that it failed
        return lost

    def _observe(self, job_id: str, job: Job | None) -> None:
        """Emit the events between what was last seen of ``job_id`` and ``job`` (its state now)."""
        if job_id not in self._watched:  # a job this process did not accept, or one already ended
            return
        with self._watched_lock:
            seen = self._watched.get(job_id)
            if seen is None or (job is not None and (job.state, job.progress) == seen):
                return
            if job is None or job.state in TERMINAL:
                self._watched.pop(job_id, None)
            else:
                self._watched[job_id] = (job.state, job.progress)
            if job is None:
                return
            # emitted under the lock: the watcher and a reader never interleave one job's events
            state, progress = seen
            if state is JobState.RUNNING and job.state is JobState.QUEUED:
                self._emit("requeued", job_id, job)
            elif state is JobState.QUEUED and job.state is not JobState.QUEUED and job.started_at is not None:
                self._emit("started", job_id, job)
            if job.state is JobState.RUNNING and job.progress != progress:
                self._emit("progress", job_id, job)
            elif job.state in TERMINAL:
                if job.started_at is not None and job.finished_at is not None:
                    self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * (job.finished_at - job.started_at)
                self._emit(job.state.value, job_id, job)  # type: ignore[arg-type]

    def wait_ready(self, timeout: float | None = None) -> bool:
        return True

    def alive(self) -> bool:
        """At least one worker answers a ping over the broker now (what /readyz calls "workers alive").

        Returns on the first answer; waits at most half a second when none comes (no worker, every
        worker paused or gone, or the broker down).
        """
        try:
            return bool(self.app.control.ping(timeout=0.5, limit=1))
        except Exception:
            return False

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

    def submit(self, job: Job, input_data: bytes | None = None, mask_edit: bytes | None = None) -> Job:
        """Store the job, then publish it; when the broker refuses, remove the row and raise 503."""
        if self.waiting >= self.settings.queue_size:
            raise QueueFull("The job queue is full; try again later.", retry_after=self.retry_after())
        created = self.store.create(job, input_data, mask_edit)
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
        with self._watched_lock:  # under the lock: "submitted" is always heard before "started"
            self._watched[created.id] = (JobState.QUEUED, 0.0)
            self._emit("submitted", created.id, created)
        return created

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now (its message is then skipped); ask a running one to stop."""
        if self.store.cancel_if_queued(job_id):
            with self._watched_lock:
                self._watched.pop(job_id, None)
            self._emit("cancelled", job_id)
        else:
            self.store.request_cancel(job_id)  # the worker polls the flag
        return self.store.get(job_id)


# --- worker side --------------------------------------------------------------------------------
class CeleryWorker:
    """One ``orfeas worker`` process: its store, its executor (the local pool's single-job code) and
    its metrics. Celery calls :meth:`run_job` on ``settings.workers`` pool threads; each thread keeps
    its own runner process warm across jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = JobStore(
            settings.data_dir,
            open_database(settings.database_url, settings.data_dir),
            jobs_dir=settings.jobs_dir(),
        )
        self._listeners: list[Listener] = []
        self.executor = JobExecutor(self.store, settings, settings.worker_mode, self._emit)
        self._runners = threading.local()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def running(self) -> int:
        return self.executor.running

    def _emit(self, kind: EventKind, job_id: str) -> None:
        notify(self._listeners, kind, self.store.get(job_id))

    def run_job(self, task: Any, job_id: str) -> str:
        """The Celery task: run one job to its end state and return that state. A redelivery (its
        worker was lost) finds the job running and runs it again, within ``max_attempts``."""
        store = self.store
        self.executor.record_unrecorded()  # failures a full disk kept from being written down
        try:
            job = store.get(job_id)
            if job is None or job.state in TERMINAL:
                return job.state.value if job else "missing"
            if job.state is JobState.RUNNING:
                # only a redelivery finds it running: the worker that had it died (kill -9, lost node)
                log.warning("job %s was running on a lost worker: running it again", job_id)
                if job.attempts >= self.settings.max_attempts:
                    self.executor.fail(
                        job_id, FailureReason.INTERRUPTED, "The job's workers were lost too many times."
                    )
                    return JobState.FAILED.value
                store.requeue_lost(job_id)
            claimed = store.claim(job_id)
            if claimed is None:  # cancelled while queued, or another delivery took it
                return "skipped"
            log.info("job %s: running (attempt %d)", job_id, claimed.attempts)
        except Exception as exc:  # the database is unreachable: an infrastructure fault, retry
            raise task.retry(exc=exc, countdown=5) from exc
        done = threading.Event()
        watcher = threading.Thread(target=self._forward_cancel, args=(job_id, done), daemon=True)
        watcher.start()
        try:
            # as the local supervisor threads do: a failure fails the job, never leaves it running
            runner: Runner | None = getattr(self._runners, "runner", None)
            self._runners.runner = self.executor.run(claimed, runner or self.executor.new_runner())
        finally:
            done.set()
        final = store.get(job_id)
        state = final.state.value if final else "missing"
        log.info("job %s finished: %s", job_id, state)
        return state

    def _forward_cancel(self, job_id: str, done: threading.Event) -> None:
        """Forward a cancel request made on the API (a flag in the shared store) to the runner."""
        while not done.wait(0.1):
            job = self.store.get(job_id)
            if job is not None and job.cancel_requested:
                self.executor.request_cancel(job_id)
                return

    def close(self) -> None:
        self.store.close()


def worker_main(settings: Settings, extra: list[str] | None = None) -> int:
    """``orfeas worker``: a Celery worker running ``settings.workers`` jobs at once, recording the
    jobs it runs in its own metrics, served on ``worker_metrics_port``."""
    if settings.worker_mode == "process":
        preload_process_runners()
    worker = CeleryWorker(settings)  # connect to the store before taking jobs
    log.info("worker store ready (%s)", type(worker.store.db).__name__)
    if settings.metrics_enabled:
        from prometheus_client import start_http_server

        from orfeas.jobs.observe import recorders, service_metrics, vocabulary

        metrics = service_metrics(settings, vocabulary())
        for listener in recorders(metrics):
            worker.add_listener(listener)
        metrics.track_job_counts(queued=lambda: 0, running=lambda: worker.running)
        if settings.worker_metrics_port:
            start_http_server(settings.worker_metrics_port, addr=settings.host, registry=metrics.registry)

    def run_job(task: Any, job_id: str) -> str:  # a plain function: Celery binds the task to it
        return worker.run_job(task, job_id)

    app = make_celery(settings, run_job)
    argv = [
        "worker",
        "--loglevel=INFO",
        "--pool=threads",
        f"--concurrency={settings.workers}",
        f"--queues={QUEUE_NAME}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        *(extra or []),
    ]
    try:
        app.worker_main(argv)
    finally:
        with contextlib.suppress(Exception):
            worker.close()
    return 0
