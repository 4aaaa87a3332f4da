"""Running one claimed job on a runner, start to end state: :class:`JobExecutor`.

Both queues run jobs with it — the local pool's supervisor threads and the Celery worker's pool
threads — so timeouts, cancellation, progress, artifacts and failures are handled in one place.
The executor sends the job's :class:`~orfeas.jobs.runner.Task` to a runner (a child process by
default), relays progress into the store, enforces the per-job timeout, forwards a cancel request,
and records the outcome. It never leaves a job running with nobody watching it: any failure here
fails the job, and the caller carries on with a fresh runner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from orfeas.jobs.queue import EventKind, usable_cpus
from orfeas.jobs.runner import Mode, Runner, Task
from orfeas.jobs.states import Artifact, FailureReason, Job, out_of_space
from orfeas.jobs.store import JobStore
from orfeas.settings import Settings

log = logging.getLogger("orfeas.jobs.execute")

WORKER_FAILED = "The worker failed while running the job."
NO_ROOM = "The server ran out of disk space for the job's files; nothing was kept. Try again later."

#: ``emit(kind, job_id)``: tell the listeners what just happened to a job.
Emit = Callable[[EventKind, str], None]


class JobExecutor:
    """Runs claimed jobs of ``store`` on runners, ``settings.workers`` of them at a time at most."""

    def __init__(self, store: JobStore, settings: Settings, mode: Mode, emit: Emit) -> None:
        self.store = store
        self.settings = settings
        self.mode = mode
        self.emit = emit
        self.stopping = threading.Event()
        self._running: dict[str, float] = {}  # job id → monotonic start
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self._unrecorded: dict[str, tuple[FailureReason, str]] = {}  # job id → its failure
        self.average_job_s = 5.0  # a first guess for Retry-After until jobs have run

    @property
    def running(self) -> int:
        return len(self._running)

    def new_runner(self) -> Runner:
        """A runner whose native thread pools are capped at its share of this process's CPUs (its
        affinity: a cpuset from taskset, docker --cpuset-cpus or Kubernetes), not the machine's."""
        return Runner(self.mode, native_threads=max(1, usable_cpus() // self.settings.workers))

    def request_cancel(self, job_id: str) -> None:
        """Stop ``job_id`` at its next stage boundary, if it runs here."""
        self._cancel.add(job_id)

    def run(self, job: Job, runner: Runner) -> Runner:
        """Run a claimed job on ``runner`` (a fresh one if it died); returns the runner to use next."""
        try:
            if not runner.alive():
                runner.stop(kill=True)
                runner = self.new_runner()
            return self._run(job, runner)
        except Exception as exc:
            if out_of_space(exc):  # recording the result needs room the disk does not have
                log.error("no room to record job %s: %s", job.id, exc)
            else:
                log.exception("worker failed while handling job %s", job.id)
            runner.stop(kill=True)
            self.give_up(job.id, exc)
            return self.new_runner()

    def give_up(self, job_id: str, exc: BaseException) -> None:
        """Fail ``job_id`` after ``exc`` broke its handling: as storage_full when the disk is full."""
        if out_of_space(exc):
            self._fail_quietly(job_id, FailureReason.STORAGE_FULL, NO_ROOM)
        else:
            self._fail_quietly(job_id, FailureReason.INTERNAL, WORKER_FAILED)

    def abandon(self, job_id: str, runner: Runner, reason: FailureReason, message: str) -> Runner:
        """Kill ``runner`` mid-job, fail the job with ``reason``, and return a fresh runner."""
        runner.stop(kill=True)
        self._fail_quietly(job_id, reason, message)
        return self.new_runner()

    def _fail_quietly(self, job_id: str, reason: FailureReason, message: str) -> None:
        try:
            self.fail(job_id, reason, message)
        except Exception:  # the store cannot write (a full disk): kept, and tried again later
            log.exception("could not record the failure of job %s; will try again", job_id)
            with self._lock:
                self._unrecorded[job_id] = (reason, message)

    def record_unrecorded(self) -> int:
        """Try again to record the failures the store could not take; how many are still waiting.
        Called between jobs, so a job never stays running once there is room to say it failed."""
        with self._lock:
            waiting = list(self._unrecorded.items())
        for job_id, (reason, message) in waiting:
            try:
                self.fail(job_id, reason, message)
            except Exception:
                continue
            with self._lock:
                self._unrecorded.pop(job_id, None)
        return len(self._unrecorded)

    def fail(
        self, job_id: str, reason: FailureReason, message: str, timings: dict[str, float] | None = None
    ) -> None:
        """Fail ``job_id``, removing whatever files its run left behind."""
        self.store.clear_outputs(job_id)
        if self.store.fail(job_id, reason, message, timings):
            self.emit("failed", job_id)

    def _run(self, job: Job, runner: Runner) -> Runner:
        started = time.monotonic()
        self._running[job.id] = started
        self.emit("started", job.id)
        deadline = started + self.settings.job_timeout_s
        task = Task(
            job_id=job.id,
            spec=job.spec,
            files=self.store.files,
            settings=self.settings,
            input_name=job.input_name if job.has_input else None,
        )
        cancel_sent = False
        outcome: tuple[Any, ...] | None = None
        try:
            runner.send(task)
            while outcome is None:
                now = time.monotonic()
                if self.stopping.is_set():
                    runner.stop(kill=True)  # first, so no file lands after the release
                    if self.store.release(job.id):
                        self.emit("requeued", job.id)
                    return runner
                if now >= deadline:
                    message = f"The job took longer than {self.settings.job_timeout_s:g} s and was stopped."
                    return self.abandon(job.id, runner, FailureReason.TIMEOUT, message)
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
                        self.emit("progress", job.id)
                else:
                    outcome = message
        except (EOFError, OSError) as exc:
            code = runner.exitcode
            log.error("runner for job %s died (%s, exit code %s)", job.id, exc, code)
            died = f"The worker process died while running the job (exit code {code})."
            return self.abandon(job.id, runner, FailureReason.INTERNAL, died)
        finally:
            self._running.pop(job.id, None)
            self._cancel.discard(job.id)
        self.average_job_s = 0.8 * self.average_job_s + 0.2 * (time.monotonic() - started)
        self._record(job.id, outcome)
        return runner

    def _record(self, job_id: str, outcome: tuple[Any, ...]) -> None:
        kind = outcome[0]
        if kind == "done":
            result = outcome[2]
            artifacts = [Artifact(*a) for a in result["artifacts"]]
            if self.store.succeed(
                job_id, report=result["report"], timings=result["timings"], artifacts=artifacts
            ):
                self.emit("succeeded", job_id)
        elif kind == "cancelled":
            self.store.clear_outputs(job_id)
            if self.store.cancel(job_id):
                self.emit("cancelled", job_id)
        else:
            _, _, reason, message, timings = outcome
            self.fail(job_id, FailureReason(reason), message, timings)
