"""The job queue's interface, :class:`JobQueue`, which the local pool and Celery both implement.

The service (:mod:`orfeas.jobs.service`) talks to a queue through this protocol only, so it does
not know whether jobs run in this process's worker pool (:class:`orfeas.jobs.worker.WorkerPool`)
or on Celery workers on other machines (:class:`orfeas.jobs.distributed.CeleryQueue`). Listeners
hear of every change to a job as a :class:`JobEvent`.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from orfeas.errors import OrfeasError
from orfeas.jobs.states import Job
from orfeas.jobs.store import Recovery

log = logging.getLogger("orfeas.jobs.queue")

EventKind = Literal["submitted", "started", "progress", "succeeded", "failed", "cancelled", "requeued"]


@dataclass(frozen=True)
class JobEvent:
    """A change to a job, as seen by listeners. ``job`` is the state right after the change."""

    kind: EventKind
    job: Job
    at: float


Listener = Callable[[JobEvent], None]


def notify(listeners: Iterable[Listener], kind: EventKind, job: Job | None) -> None:
    """Tell every listener that ``job`` had a ``kind`` change (nothing when the job is gone). A
    broken listener is logged and skipped: it must never break a job."""
    if job is None:
        return
    event = JobEvent(kind, job, time.time())
    for listener in list(listeners):
        try:
            listener(event)
        except Exception:
            log.exception("job listener %r failed", listener)


class QueueFull(OrfeasError):
    """The queue holds ``settings.queue_size`` waiting jobs; try again after ``retry_after`` s."""

    code = "queue_full"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class JobQueue(Protocol):
    """Where accepted jobs wait and who runs them."""

    #: ``"process"``/``"thread"`` (the local pool's runners) or ``"celery"``
    mode: str

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(JobEvent)`` on every change to a job this queue accepted or ran."""

    def start(self) -> Recovery:
        """Start taking jobs (the local pool first recovers what a crash left running)."""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; running jobs go back to the queue without using up an attempt."""

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the queue can run jobs (tests and benchmarks use this)."""

    def alive(self) -> bool:
        """Whether jobs can run now (what ``/readyz`` calls "workers alive")."""

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker."""

    @property
    def running(self) -> int:
        """Jobs running now."""

    def retry_after(self) -> int:
        """Seconds until a queue slot is likely free (for ``Retry-After``)."""

    def submit(self, job: Job, input_data: bytes | None = None, mask_edit: bytes | None = None) -> Job:
        """Store and queue a new job with its input files (``mask_edit``: a painted mask edit, when
        the spec says there is one), or raise :class:`QueueFull` having changed nothing."""

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job now, or ask a running one to stop at its next stage boundary."""

    def broker_depth(self) -> int | None:
        """Messages waiting in a message broker, when there is one (else ``None``)."""


def new_job_id() -> str:
    return uuid.uuid4().hex


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS says, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
