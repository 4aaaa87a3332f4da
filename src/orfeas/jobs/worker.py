"""The local worker pool: a bounded queue, ``settings.workers`` supervisors, one runner each.

Each supervisor is a thread that takes a job id from the queue, claims the job in the store
(queued → running), hands it to its runner (a child process by default, see
:mod:`orfeas.jobs.runner`), relays progress into the store, enforces the per-job timeout and
records the outcome. Nothing here touches the event loop: the API learns about changes through
listeners (:meth:`WorkerPool.add_listener`), which is also the hook for metrics.

Process vs thread runners (``python bench/load.py --compare-runners``; 2 cores shared with other
work, so read the ratios, not the seconds; medians of 2–3 runs, all five formats, 50k faces):

    2 workers, 12 puffy jobs of 256 px:   processes 3.69 s   threads 7.88 s   (threads 2.1× slower)
    2 workers,  6 puffy jobs of 1024 px:  processes 2.11 s   threads 3.16 s   (threads 1.5× slower)
    1 worker,  12 puffy jobs of 256 px:   processes 6.76 s   threads 6.58 s   (even)

Processes win as soon as two jobs run at once: mesh clean-up, decimation book-keeping and the
exporters are largely Python holding the GIL, and in a child process they also leave the API's
event loop alone. Each child caps its BLAS/OpenMP/OpenCV pools at cores ÷ workers (without the
cap, two children on two cores ran 1.5× slower). Threads stay available (``worker_mode``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orfeas.errors import OrfeasError
from orfeas.jobs.runner import Mode, Runner, Task, preload_process_runners
from orfeas.jobs.states import Artifact, FailureReason, Job
from orfeas.jobs.store import JobStore, Recovery
from orfeas.settings import Settings

log = logging.getLogger("orfeas.jobs.worker")

EventKind = Literal["submitted", "started", "progress", "succeeded", "failed", "cancelled", "requeued"]


@dataclass(frozen=True)
class JobEvent:
    """A change to a job, as seen by listeners. ``job`` is the state right after the change."""

    kind: EventKind
    job: Job
    at: float


Listener = Callable[[JobEvent], None]


class QueueFull(OrfeasError):
    """The queue holds ``settings.queue_size`` waiting jobs; try again after ``retry_after`` s."""

    code = "queue_full"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


WORKER_FAILED = "The worker failed while running the job."


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS says, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def new_job_id() -> str:
    return uuid.uuid4().hex


class WorkerPool:
    """Runs queued jobs with at most ``settings.workers`` at a time."""

    def __init__(self, store: JobStore, settings: Settings, *, mode: Mode | None = None) -> None:
        self.store = store
        self.settings = settings
        self.mode: Mode = mode or settings.worker_mode
        self._listeners: list[Listener] = []
        self._lock = threading.Condition()
        self._waiting: deque[str] = deque()
        self._waiting_set: set[str] = set()
        self._running: dict[str, float] = {}  # job id → monotonic start
        self._cancel: set[str] = set()
        self._supervisors: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._runners_up = 0
        self._avg_job_s = 5.0  # a first guess for Retry-After until jobs have run
        self.started_at: float | None = None

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(JobEvent)`` on every job change (from whichever thread made it)."""
        self._listeners.append(listener)

    def _emit(self, kind: EventKind, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or not self._listeners:
            return
        event = JobEvent(kind, job, time.time())
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must never break a job
                log.exception("job listener %r failed", listener)

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> Recovery:
        """Recover from an unclean stop, queue what is waiting, start the supervisors."""
        recovery = self.store.recover(self.settings.max_attempts)
        for job_id in recovery.interrupted:
            self._emit("failed", job_id)
        with self._lock:
            for job_id in recovery.queued:
                self._waiting.append(job_id)
                self._waiting_set.add(job_id)
        for job_id in recovery.requeued:
            self._emit("requeued", job_id)
        if self.mode == "process":
            preload_process_runners()
        self._stopping.clear()
        for i in range(self.settings.workers):
            thread = threading.Thread(target=self._supervise, name=f"orfeas-worker-{i}", daemon=True)
            self._supervisors.append(thread)
            thread.start()
        self.started_at = time.time()
        return recovery

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the supervisors. Running jobs go back to the queue without using up an attempt."""
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._supervisors:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._supervisors = []

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every supervisor has its runner up (tests and benchmarks use this)."""
        return self._ready.wait(timeout)

    def alive(self) -> bool:
        """Every supervisor thread is running (what /readyz reports as "workers alive")."""
        return bool(self._supervisors) and all(t.is_alive() for t in self._supervisors)

    @property
    def waiting(self) -> int:
        return len(self._waiting_set)

    @property
    def running(self) -> int:
        return len(self._running)

    # --- submit and cancel --------------------------------------------------------------------
    def submit(self, job: Job, input_png: bytes | None = None) -> Job:
        """Store and queue a new job, or raise :class:`QueueFull` having changed nothing."""
        with self._lock:
            if len(self._waiting_set) >= self.settings.queue_size:
                raise QueueFull(
                    f"The queue is full ({self.settings.queue_size} jobs waiting); try again later.",
                    retry_after=self.retry_after(),
                )
            created = self.store.create(job, input_png)
            self._waiting.append(created.id)
            self._waiting_set.add(created.id)
            self._emit("submitted", created.id)  # under the lock: always before "started"
            self._lock.notify()
        return created

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free, from the recent average job time."""
        per_slot = self._avg_job_s * (len(self._waiting_set) + 1) / self.settings.workers
        return max(1, min(300, math.ceil(per_slot)))

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or ask a running one to stop at its next stage boundary."""
        with self._lock:
            if self.store.cancel_if_queued(job_id):
                if job_id in self._waiting_set:
                    self._waiting_set.discard(job_id)
                    self._waiting.remove(job_id)
                cancelled = True
            else:
                cancelled = False
                if self.store.request_cancel(job_id):
                    self._cancel.add(job_id)
        if cancelled:
            self._emit("cancelled", job_id)
        return self.store.get(job_id)

    # --- supervisors --------------------------------------------------------------------------
    def _next(self) -> str | None:
        with self._lock:
            while not self._waiting and not self._stopping.is_set():
                self._lock.wait(0.5)
            if self._stopping.is_set():
                return None
            job_id = self._waiting.popleft()
            self._waiting_set.discard(job_id)
            return job_id

    def _supervise(self) -> None:
        runner = self._new_runner()
        with self._lock:
            self._runners_up += 1
            if self._runners_up >= self.settings.workers:
                self._ready.set()
        try:
            while not self._stopping.is_set():
                job_id = self._next()
                if job_id is None:
                    break
                try:
                    job = self.store.claim(job_id)
                except Exception:  # e.g. the claim landed but reading it back failed: never leave it
                    log.exception("could not claim job %s", job_id)
                    with contextlib.suppress(Exception):
                        self._finish_failed(job_id, FailureReason.INTERNAL, WORKER_FAILED)
                    continue
                if job is not None:  # None: cancelled (or taken) while waiting
                    runner = self.run_claimed(job, runner)
        finally:
            runner.stop(kill=True)

    def run_claimed(self, job: Job, runner: Runner) -> Runner:
        """Run a claimed job on ``runner`` (a fresh one if it died); returns the runner to use next.

        Never leaves the job running with nobody watching it: a failure here fails the job (and the
        caller keeps going with a new runner).
        """
        try:
            if not runner.alive():
                runner.stop(kill=True)
                runner = self._new_runner()
            return self._run_one(job, runner)
        except Exception:
            log.exception("worker failed while handling job %s", job.id)
            runner.stop(kill=True)
            with contextlib.suppress(Exception):
                self._finish_failed(job.id, FailureReason.INTERNAL, WORKER_FAILED)
            return self._new_runner()

    def _new_runner(self) -> Runner:
        # Each runner caps its native thread pools at its share of the CPUs this process may use (its
        # affinity: a cpuset from taskset, docker --cpuset-cpus or Kubernetes), not of the machine.
        return Runner(self.mode, native_threads=max(1, usable_cpus() // self.settings.workers))

    def _run_one(self, job: Job, runner: Runner) -> Runner:
        """Run ``job`` on ``runner``; returns the runner to use next (a new one after a kill)."""
        started = time.monotonic()
        self._running[job.id] = started
        self._emit("started", job.id)
        deadline = started + self.settings.job_timeout_s
        task = Task(
            job_id=job.id,
            files=self.store.files,
            engine=job.engine,
            params=job.params,
            formats=job.formats,
            settings=self.settings,
            input_name=job.input_name if job.input_kind != "text" else None,
            task=job.task,
            text=job.input_text,
            lettering=job.lettering,
            text_to_image=job.text_to_image,
        )
        cancel_sent = False
        outcome: tuple[Any, ...] | None = None
        try:
            runner.send(task)
            while outcome is None:
                now = time.monotonic()
                if self._stopping.is_set():
                    runner.stop(kill=True)  # first, so no file lands after the release
                    self._release(job.id)
                    return runner
                if now >= deadline:
                    runner.stop(kill=True)
                    runner = self._new_runner()
                    self._finish_failed(
                        job.id,
                        FailureReason.TIMEOUT,
                        f"The job took longer than {self.settings.job_timeout_s:g} s and was stopped.",
                    )
                    return runner
                if job.id in self._cancel and not cancel_sent:
                    runner.send(("cancel", job.id))
                    cancel_sent = True
                if not runner.poll(min(0.1, deadline - now)):
                    continue
                message = runner.recv()
                if message[1] != job.id:
                    continue  # a late message from a job this runner already gave up on
                if message[0] == "progress":
                    if self.store.set_progress(job.id, message[2], float(message[3])):
                        self._emit("progress", job.id)
                else:
                    outcome = message
        except (EOFError, OSError) as exc:
            code = getattr(getattr(runner, "_proc", None), "exitcode", None)
            log.error("runner for job %s died (%s, exit code %s)", job.id, exc, code)
            runner.stop(kill=True)
            runner = self._new_runner()
            self._finish_failed(
                job.id,
                FailureReason.INTERNAL,
                f"The worker process died while running the job (exit code {code}).",
            )
            return runner
        finally:
            self._running.pop(job.id, None)
            self._cancel.discard(job.id)
        elapsed = time.monotonic() - started
        self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * elapsed
        kind = outcome[0]
        if kind == "done":
            result = outcome[2]
            artifacts = [Artifact(*a) for a in result["artifacts"]]
            if self.store.succeed(
                job.id, report=result["report"], timings=result["timings"], artifacts=artifacts
            ):
                self._emit("succeeded", job.id)
        elif kind == "cancelled":
            self.store.clear_outputs(job.id)
            if self.store.cancel(job.id):
                self._emit("cancelled", job.id)
        else:
            _, _, reason, message, timings = outcome
            self._finish_failed(job.id, FailureReason(reason), message, timings)
        return runner

    def _finish_failed(
        self, job_id: str, reason: FailureReason, message: str, timings: dict[str, float] | None = None
    ) -> None:
        self.store.clear_outputs(job_id)
        if self.store.fail(job_id, reason, message, timings):
            self._emit("failed", job_id)

    def _release(self, job_id: str) -> None:
        """Shutting down mid-job: put it back in the queue, not counting the aborted attempt."""
        if self.store.release(job_id):
            self._emit("requeued", job_id)
