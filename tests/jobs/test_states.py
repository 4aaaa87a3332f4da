"""The job state machine: allowed moves, terminal states, failure reasons."""

from __future__ import annotations

import pytest

from orfeas.errors import Cancelled, EngineUnavailable, InputRejected, MeshInvalid, OrfeasError
from orfeas.jobs.states import (
    TERMINAL,
    TRANSITIONS,
    Artifact,
    FailureReason,
    InvalidTransition,
    JobState,
    check_transition,
    failure_reason,
    iso,
    sources,
)
from tests.jobs.conftest import make_job

pytestmark = pytest.mark.unit


def test_failure_reasons_are_the_fixed_set() -> None:
    assert {r.value for r in FailureReason} == {
        "invalid_input",
        "engine_unavailable",
        "mesh_invalid",
        "timeout",
        "cancelled",
        "interrupted",
        "gpu_oom",
        "internal",
    }


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("target", list(JobState))
def test_nothing_leaves_a_terminal_state(terminal: JobState, target: JobState) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(terminal, target)


def test_allowed_moves() -> None:
    allowed = {(s, t) for t, froms in TRANSITIONS.items() for s in froms}
    assert allowed == {
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.RUNNING, JobState.RUNNING),
        (JobState.RUNNING, JobState.QUEUED),
        (JobState.RUNNING, JobState.SUCCEEDED),
        (JobState.QUEUED, JobState.FAILED),
        (JobState.RUNNING, JobState.FAILED),
        (JobState.QUEUED, JobState.CANCELLED),
        (JobState.RUNNING, JobState.CANCELLED),
    }
    assert sources(JobState.SUCCEEDED) == {JobState.RUNNING}
    with pytest.raises(InvalidTransition):
        check_transition(JobState.QUEUED, JobState.SUCCEEDED)  # a job must run to succeed
    with pytest.raises(InvalidTransition):
        check_transition(JobState.QUEUED, JobState.QUEUED)


def test_a_job_runs_reports_progress_and_succeeds() -> None:
    job = make_job()
    assert job.state is JobState.QUEUED and job.attempts == 0 and not job.finished
    running = job.start(now=123.0)
    assert running.state is JobState.RUNNING and running.attempts == 1 and running.started_at == 123.0
    moved = running.advance("mesh", 0.5).advance("simplify", 0.4)
    assert moved.stage == "simplify" and moved.progress == 0.5  # progress never goes back
    assert running.advance("export", 7).progress == 1.0
    artifact = Artifact("model.stl", "stl", 10, "model/stl")
    done = moved.succeed({"faces": 10}, {"mesh": 0.1}, (artifact,))
    assert done.finished and done.progress == 1.0 and done.artifact("model.stl") == artifact
    assert done.artifact("model.obj") is None
    with pytest.raises(InvalidTransition):
        done.cancel()
    with pytest.raises(InvalidTransition):
        done.advance("mesh", 0.1)


def test_fail_cancel_and_requeue() -> None:
    job = make_job()
    failed = job.start().fail(FailureReason.TIMEOUT, "too slow")
    assert failed.state is JobState.FAILED and failed.error_code == "timeout"
    cancelled = job.cancel()
    assert cancelled.state is JobState.CANCELLED and cancelled.error_code == "cancelled"
    again = job.start().advance("mesh", 0.5).requeue()
    assert again.state is JobState.QUEUED and again.progress == 0.0 and again.attempts == 1
    with pytest.raises(InvalidTransition):
        job.requeue()  # only a running job can go back to the queue
    with pytest.raises(InvalidTransition):
        job.advance("mesh", 0.1)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (InputRejected("bad", code="corrupt"), FailureReason.INVALID_INPUT),
        (InputRejected("none", code="no_subject"), FailureReason.INVALID_INPUT),
        (EngineUnavailable("no gpu"), FailureReason.ENGINE_UNAVAILABLE),
        (MeshInvalid("holes"), FailureReason.MESH_INVALID),
        (Cancelled("stop"), FailureReason.CANCELLED),
        (OrfeasError("odd", code="something_else"), FailureReason.INTERNAL),
        (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), FailureReason.GPU_OOM),
        (type("OutOfMemoryError", (RuntimeError,), {})("oom"), FailureReason.GPU_OOM),
        (ZeroDivisionError(), FailureReason.INTERNAL),
    ],
)
def test_failure_reason_of_exceptions(error: BaseException, reason: FailureReason) -> None:
    assert failure_reason(error) is reason


def test_iso_timestamps() -> None:
    assert iso(None) is None
    assert iso(0.0) == "1970-01-01T00:00:00Z"
