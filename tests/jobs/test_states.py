"""The job state machine: allowed moves, terminal states, failure reasons."""

from __future__ import annotations

import pytest

from orfeas.errors import Cancelled, EngineUnavailable, InputRejected, MeshInvalid, OrfeasError
from orfeas.jobs.states import (
    TERMINAL,
    TRANSITIONS,
    FailureReason,
    JobState,
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
    assert not any(TERMINAL & froms for froms in TRANSITIONS.values()), "nothing leaves a terminal state"


def test_a_job_describes_itself_from_its_spec() -> None:
    job = make_job(text="HI", formats=("stl",))
    assert job.input_kind == "text" and job.engine == "relief" and job.formats == ("stl",)
    assert not job.finished and job.artifact("model.stl") is None
    mesh = make_job(task="repair", engine="doctor")
    assert mesh.input_kind == "model" and mesh.task == "repair"


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
