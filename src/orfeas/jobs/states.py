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

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from orfeas.errors import OrfeasError


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
    INTERNAL = "internal"


TERMINAL: frozenset[JobState] = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

#: target state → the states a job may be in to move there.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING}),  # crash recovery re-runs an interrupted job
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.RUNNING}),  # start, then progress
    JobState.SUCCEEDED: frozenset({JobState.RUNNING}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.RUNNING}),
}


class InvalidTransition(OrfeasError):
    """A state change the machine does not allow (e.g. anything out of a terminal state)."""

    code = "invalid_transition"


def sources(target: JobState) -> frozenset[JobState]:
    """The states from which a job may move to ``target``."""
    return TRANSITIONS[target]


def check_transition(current: JobState, target: JobState) -> None:
    """Raise :class:`InvalidTransition` unless ``current → target`` is allowed."""
    if current not in TRANSITIONS[target]:
        raise InvalidTransition(f"A {current.value} job cannot become {target.value}.")


def failure_reason(exc: BaseException) -> FailureReason:
    """Map an exception raised by a generation to the reason the job failed with."""
    if isinstance(exc, OrfeasError):
        try:
            return FailureReason(exc.code)
        except ValueError:
            pass
        from orfeas.errors import InputRejected  # codes like "corrupt" all mean bad input

        if isinstance(exc, InputRejected):
            return FailureReason.INVALID_INPUT
    # torch.cuda.OutOfMemoryError and friends, matched by name: torch is an optional extra.
    if type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc):
        return FailureReason.GPU_OOM
    return FailureReason.INTERNAL


#: What a job does: build a model from a picture or text, or analyse or repair a mesh brought to it.
TASKS = ("generate", "analyze", "repair")
#: The stored input of an image or text job (the normalised picture).
INPUT_NAME = "input.png"


@dataclass(frozen=True)
class Artifact:
    """A finished file of a job, named ``model.<format>``."""

    name: str
    format: str
    size: int
    content_type: str


@dataclass(frozen=True)
class Job:
    """One generation request and everything known about it. Immutable: changes make copies."""

    id: str
    engine: str
    params: dict[str, Any] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    input_kind: str = "image"  # "image" | "text" | "model"
    input_text: str | None = None
    input_filename: str | None = None
    lettering: dict[str, Any] | None = None
    #: a text painted by a neural step rather than typeset: {"method": "diffusion", "options": {…}}
    text_to_image: dict[str, Any] | None = None
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
    task: str = "generate"  # one of TASKS
    input_name: str = INPUT_NAME  # the stored input file: input.png, or input.<format> for a model
    cache_key: str | None = None  # set on a job whose result may answer later identical submissions
    cached_from: str | None = None  # the job whose result this one shares (answered from the cache)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def artifact(self, name: str) -> Artifact | None:
        """The recorded artifact called ``name``, if any."""
        return next((a for a in self.artifacts if a.name == name), None)

    # Pure transition helpers: the store applies the same rules in SQL; these keep them testable
    # and give in-memory users (tests, the CLI) one way to move a job.
    def start(self, now: float | None = None) -> Job:
        check_transition(self.state, JobState.RUNNING)
        return replace(
            self,
            state=JobState.RUNNING,
            stage=None,
            progress=0.0,
            attempts=self.attempts + 1,
            started_at=now if now is not None else time.time(),
        )

    def advance(self, stage: str, progress: float) -> Job:
        if self.state is not JobState.RUNNING:
            raise InvalidTransition(f"A {self.state.value} job has no progress to report.")
        return replace(self, stage=stage, progress=min(1.0, max(self.progress, float(progress))))

    def succeed(
        self, report: dict[str, Any], timings: dict[str, float], artifacts: tuple[Artifact, ...]
    ) -> Job:
        check_transition(self.state, JobState.SUCCEEDED)
        return replace(
            self,
            state=JobState.SUCCEEDED,
            progress=1.0,
            report=report,
            timings=timings,
            artifacts=artifacts,
            finished_at=time.time(),
        )

    def fail(self, reason: FailureReason, message: str) -> Job:
        check_transition(self.state, JobState.FAILED)
        return replace(
            self,
            state=JobState.FAILED,
            error_code=FailureReason(reason).value,
            error_message=message,
            finished_at=time.time(),
        )

    def cancel(self) -> Job:
        check_transition(self.state, JobState.CANCELLED)
        return replace(
            self,
            state=JobState.CANCELLED,
            error_code=FailureReason.CANCELLED.value,
            error_message="Cancelled on request.",
            finished_at=time.time(),
        )

    def requeue(self) -> Job:
        check_transition(self.state, JobState.QUEUED)
        return replace(self, state=JobState.QUEUED, stage=None, progress=0.0, cancel_requested=False)


def iso(ts: float | None) -> str | None:
    """An epoch timestamp as ISO 8601 in UTC (what the API shows)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
