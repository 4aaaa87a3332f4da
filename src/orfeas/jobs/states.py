"""The job model and its state machine, in one place.

::

    queued ──▶ running(stage, progress) ──▶ succeeded
      │            │  ▲                  ├─▶ failed(reason)
      │            │  └─ progress        └─▶ cancelled
      ├──▶ cancelled   └──▶ queued   (crash recovery only: re-run an interrupted job)
      └──▶ failed(reason)

Terminal states (succeeded, failed, cancelled) never change again. The store enforces the table
below atomically (``UPDATE … WHERE state IN (allowed sources)``), so two threads or processes
racing on one job cannot both win.
"""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from orfeas.errors import InputRejected, OrfeasError, StorageFull
from orfeas.spec import MASK_EDIT_NAME, JobSpec


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FailureReason(StrEnum):
    """Why a job failed. A fixed set: clients and alerts may switch on it."""

    INVALID_INPUT = "invalid_input"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    MESH_INVALID = "mesh_invalid"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    GPU_OOM = "gpu_oom"
    STORAGE_FULL = "storage_full"
    INTERNAL = "internal"


#: Failures that are the server's fault, not the input's (each also counts as a server error).
SERVER_FAULTS: frozenset[FailureReason] = frozenset(
    {
        FailureReason.ENGINE_UNAVAILABLE,
        FailureReason.MESH_INVALID,
        FailureReason.TIMEOUT,
        FailureReason.INTERRUPTED,
        FailureReason.GPU_OOM,
        FailureReason.STORAGE_FULL,
        FailureReason.INTERNAL,
    }
)

TERMINAL: frozenset[JobState] = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

#: target state → the states a job may be in to move there.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING}),  # crash recovery re-runs an interrupted job
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.RUNNING}),  # start, then progress
    JobState.SUCCEEDED: frozenset({JobState.RUNNING}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.RUNNING}),
}


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the database on it) is full: ENOSPC/EDQUOT from a write,
    SQLite's "database or disk is full", PostgreSQL's disk-full error."""
    if isinstance(exc, StorageFull):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "database or disk is full" in text or type(exc).__name__ == "DiskFull" or "no space left" in text


class InvalidTransition(OrfeasError):
    """A state change the machine does not allow (e.g. anything out of a terminal state)."""

    code = "invalid_transition"


def sources(target: JobState) -> frozenset[JobState]:
    """The states from which a job may move to ``target``."""
    return TRANSITIONS[target]


def failure_reason(exc: BaseException) -> FailureReason:
    """Map an exception raised by a generation to the reason the job failed with."""
    if isinstance(exc, OrfeasError):
        try:
            return FailureReason(exc.code)
        except ValueError:
            pass
        if isinstance(exc, InputRejected):  # codes like "corrupt" all mean bad input
            return FailureReason.INVALID_INPUT
    if out_of_space(exc):
        return FailureReason.STORAGE_FULL
    # torch.cuda.OutOfMemoryError and friends, matched by name: torch is an optional extra.
    if type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc):
        return FailureReason.GPU_OOM
    return FailureReason.INTERNAL


@dataclass(frozen=True)
class Artifact:
    """A finished file of a job, named ``model.<format>`` (``picture.png`` for a painting)."""

    name: str
    format: str
    size: int
    content_type: str


@dataclass(frozen=True)
class Job:
    """One job: what it makes (its :class:`~orfeas.spec.JobSpec`) and everything known about it.

    Immutable: the store makes a new one on every read; state changes happen in the store only
    (the table above, one conditional ``UPDATE`` each).
    """

    id: str
    spec: JobSpec
    state: JobState = JobState.QUEUED
    stage: str | None = None
    progress: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    artifacts: tuple[Artifact, ...] = ()
    has_input: bool = False
    input_size: int = 0
    #: the stored input file (``input.png``, ``input.<format>`` for a mesh); see ``has_input``
    input_name: str = "input.png"
    input_filename: str | None = None  # the name the client's file had (shown, never used as a path)
    cache_key: str | None = None  # set on a job whose result may answer later identical submissions
    cached_from: str | None = None  # the job whose result this one shares (answered from the cache)

    @property
    def engine(self) -> str:
        return self.spec.engine or ""

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.spec.formats or ())

    @property
    def input_kind(self) -> str:
        return self.spec.input_kind

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def input_names(self) -> tuple[str, ...]:
        """The job's stored input files: its picture or mesh, and a painted mask edit if it has one."""
        return input_names(self.input_name if self.has_input else None, self.spec)

    def artifact(self, name: str) -> Artifact | None:
        """The recorded artifact called ``name``, if any."""
        return next((a for a in self.artifacts if a.name == name), None)


def input_names(input_name: str | None, spec: JobSpec) -> tuple[str, ...]:
    """The stored input files of a job whose input is ``input_name`` (None: nothing stored)."""
    names = (input_name,) if input_name else ()
    return (*names, MASK_EDIT_NAME) if spec.mask_edit else names


def iso(ts: float | None) -> str | None:
    """An epoch timestamp as ISO 8601 in UTC (what the API shows)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
