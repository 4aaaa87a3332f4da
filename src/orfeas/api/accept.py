"""Turning a checked :class:`~orfeas.api.intake.Submission` into a job: queued, or answered from the cache.

Every route that creates a job (``POST /api/v1/jobs`` and the compatibility routes) goes through
:func:`accept`, so limits, the result cache (:mod:`orfeas.jobs.cache`) and the observation hooks
apply the same way to all. A cache hit never touches the queue: it is answered even when full.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from orfeas.api.errors import ApiError
from orfeas.api.intake import Submission
from orfeas.api.runtime import Runtime
from orfeas.jobs.cache import job_cache_key
from orfeas.jobs.states import Job
from orfeas.jobs.worker import QueueFull, new_job_id


def queue_full(exc: QueueFull) -> ApiError:
    return ApiError(503, exc.code, exc.message, headers={"Retry-After": str(exc.retry_after)})


def check_queue(rt: Runtime) -> None:
    """Answer 503 early, before a body is read, when the queue is already full."""
    if rt.pool.waiting >= rt.settings.queue_size:
        raise queue_full(QueueFull("The job queue is full; try again later.", rt.pool.retry_after()))


async def accept(rt: Runtime, sub: Submission, job_id: str | None = None) -> Job:
    """Answer ``sub`` from the result cache, or queue it (with id ``job_id`` when the caller
    reserved one); 503 when the queue is full."""
    job = Job(
        id=job_id or new_job_id(),
        engine=sub.engine,
        params=sub.params,
        formats=sub.formats,
        input_kind=sub.input_kind,
        input_text=sub.text,
        input_filename=sub.filename,
        lettering=sub.lettering,
        task=sub.task,
        input_name=sub.input_name,
        text_to_image=sub.text_to_image,
    )
    if rt.settings.cache_enabled:
        job = replace(job, cache_key=job_cache_key(job, sub.input_png, rt.settings))
        earlier = await run_in_threadpool(rt.store.cached_result, job.cache_key, sub.formats)
        rt.hooks.cache_answered(earlier is not None)
        if earlier is not None:
            cached = await run_in_threadpool(rt.store.create_cached, job, earlier)
            rt.hooks.uploaded(sub.input_format, sub.input_size)
            return cached
    try:
        job = await run_in_threadpool(rt.pool.submit, job, sub.input_png)
    except QueueFull as exc:
        raise queue_full(exc) from exc
    rt.hooks.uploaded(sub.input_format, sub.input_size)
    return job
