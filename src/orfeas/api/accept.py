"""Making a job from a :class:`~orfeas.api.intake.Submission`: through the job service, in the
thread pool, with its errors as HTTP answers and the observation hooks told.

Every route that creates a job (``POST /api/v1/jobs`` and the compatibility routes) goes through
:func:`accept`, so admission, limits, the result cache and the hooks apply the same way to all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool

from orfeas.api.errors import ApiError, from_orfeas_error
from orfeas.api.intake import Submission
from orfeas.api.runtime import Runtime
from orfeas.errors import OrfeasError
from orfeas.jobs.queue import QueueFull
from orfeas.jobs.states import Job


def queue_full(exc: QueueFull) -> ApiError:
    return ApiError(503, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})


def check_queue(rt: Runtime) -> None:
    """Answer 503 early, before a body is read, when the queue is already full."""
    try:
        rt.jobs.check_capacity()
    except QueueFull as exc:
        raise queue_full(exc) from exc


@asynccontextmanager
async def checking(
    rt: Runtime, spec: dict[str, Any], data: bytes | None, mask_edit: bytes | None = None
) -> AsyncIterator[None]:
    """Hold the admission memory budget for checking ``data`` (priced from its header first): N
    large or hostile uploads at once wait their turn instead of all decoding at once."""
    async with holding(rt, lambda: rt.jobs.admission_cost(spec, data, mask_edit)):
        yield


@asynccontextmanager
async def holding(rt: Runtime, price: Callable[[], int]) -> AsyncIterator[None]:
    """Hold the admission memory budget for ``price()`` bytes (priced in the thread pool; a price
    may refuse a file that is hostile already in its header) while the body runs."""
    cost = await run_in_threadpool(price)
    async with rt.budget.hold(cost):
        yield


async def accept(
    rt: Runtime, sub: Submission, job_id: str | None = None, *, upload: tuple[str, int] | None = None
) -> Job:
    """Admit ``sub`` and make its job: answered from the result cache, or queued (with id
    ``job_id`` when the caller reserved one). 4xx for a bad submission, 503 when the queue is full.

    ``upload`` (format, bytes) says what to count as uploaded when the picture came in earlier
    (a staged upload of the compatibility routes) rather than in this request.
    """
    try:
        async with checking(rt, sub.spec, sub.data, sub.mask_edit):
            accepted = await run_in_threadpool(
                rt.jobs.submit,
                sub.spec,
                sub.data,
                filename=sub.filename,
                job_id=job_id,
                mask_edit=sub.mask_edit,
            )
    except QueueFull as exc:
        raise queue_full(exc) from exc
    except OrfeasError as exc:
        raise from_orfeas_error(exc) from exc
    if accepted.cached is not None:
        rt.hooks.cache_answered(accepted.cached)
    rt.hooks.uploaded(*(upload or (accepted.input_format, accepted.input_size)))
    return accepted.job
