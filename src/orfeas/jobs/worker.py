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

import logging
import math
import threading
import time
from collections import deque

from orfeas.jobs.execute import JobExecutor
from orfeas.jobs.queue import EventKind, Listener, QueueFull, notify
from orfeas.jobs.runner import Mode, preload_process_runners
from orfeas.jobs.states import Job
from orfeas.jobs.store import JobStore, Recovery
from orfeas.settings import Settings

log = logging.getLogger("orfeas.jobs.worker")


class WorkerPool:
    """The local :class:`~orfeas.jobs.queue.JobQueue`: at most ``settings.workers`` jobs at a time."""

    def __init__(self, store: JobStore, settings: Settings, *, mode: Mode | None = None) -> None:
        self.store = store
        self.settings = settings
        self.mode: Mode = mode or settings.worker_mode
        self._listeners: list[Listener] = []
        self.executor = JobExecutor(store, settings, self.mode, self._emit)
        self._lock = threading.Condition()
        self._waiting: deque[str] = deque()
        self._waiting_set: set[str] = set()
        self._supervisors: list[threading.Thread] = []
        self._ready = threading.Event()
        self._runners_up = 0
        self.started_at: float | None = None

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(JobEvent)`` on every job change (from whichever thread made it)."""
        self._listeners.append(listener)

    def _emit(self, kind: EventKind, job_id: str) -> None:
        if self._listeners:
            notify(self._listeners, kind, self.store.get(job_id))

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Recovery:
        """Recover after a crash (see :meth:`JobStore.recover`), queue waiting jobs, start workers."""
        recovery = self.store.recover(self.settings.max_attempts)
        with self._lock:
            for job_id in recovery.queued:
                if job_id not in self._waiting_set:
                    self._waiting.append(job_id)
                    self._waiting_set.add(job_id)
        for job_id in recovery.interrupted:
            self._emit("failed", job_id)
        for job_id in recovery.requeued:
            self._emit("requeued", job_id)
        if self.mode == "process":
            preload_process_runners()
        self.executor.stopping.clear()
        for i in range(self.settings.workers):
            thread = threading.Thread(target=self._supervise, name=f"orfeas-worker-{i}", daemon=True)
            self._supervisors.append(thread)
            thread.start()
        self.started_at = time.time()
        return recovery

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the supervisors. Running jobs go back to the queue without using up an attempt."""
        self.executor.stopping.set()
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
        return self.executor.running

    def broker_depth(self) -> int | None:
        return None  # no message broker: the queue is in this process

    # --- submit and cancel --------------------------------------------------------------------
    def submit(self, job: Job, input_data: bytes | None = None, mask_edit: bytes | None = None) -> Job:
        """Store and queue a new job, or raise :class:`QueueFull` having changed nothing."""
        with self._lock:
            if len(self._waiting_set) >= self.settings.queue_size:
                raise QueueFull(
                    f"The queue is full ({self.settings.queue_size} jobs waiting); try again later.",
                    retry_after=self.retry_after(),
                )
            created = self.store.create(job, input_data, mask_edit)
            self._waiting.append(created.id)
            self._waiting_set.add(created.id)
            self._emit("submitted", created.id)  # under the lock: always before "started"
            self._lock.notify()
        return created

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free, from the recent average job time."""
        per_slot = self.executor.average_job_s * (len(self._waiting_set) + 1) / self.settings.workers
        return max(1, min(300, math.ceil(per_slot)))

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or ask a running one to stop at its next stage boundary."""
        with self._lock:
            cancelled = self.store.cancel_if_queued(job_id)
            if cancelled and job_id in self._waiting_set:
                self._waiting_set.discard(job_id)
                self._waiting.remove(job_id)
            elif not cancelled and self.store.request_cancel(job_id):
                self.executor.request_cancel(job_id)
        if cancelled:
            self._emit("cancelled", job_id)
        return self.store.get(job_id)

    # --- supervisors --------------------------------------------------------------------------
    def _next(self, wait_s: float) -> str | None:
        """The next waiting job, or ``None`` after ``wait_s`` without one (or when stopping)."""
        with self._lock:
            if not self._waiting and not self.executor.stopping.is_set():
                self._lock.wait(wait_s)
            if self.executor.stopping.is_set() or not self._waiting:
                return None
            job_id = self._waiting.popleft()
            self._waiting_set.discard(job_id)
            return job_id

    def _supervise(self) -> None:
        runner = self.executor.new_runner()
        with self._lock:
            self._runners_up += 1
            if self._runners_up >= self.settings.workers:
                self._ready.set()
        try:
            while not self.executor.stopping.is_set():
                self.executor.record_unrecorded()
                job_id = self._next(wait_s=1.0)
                if job_id is None:
                    continue
                try:
                    job = self.store.claim(job_id)
                except Exception as exc:  # e.g. a full disk, or reading the claim back failed
                    log.exception("could not claim job %s", job_id)
                    self.executor.give_up(job_id, exc)  # never leave it queued with nobody to run it
                    continue
                if job is not None:  # None: cancelled (or taken) while waiting
                    runner = self.executor.run(job, runner)
        finally:
            runner.stop(kill=True)
