"""``/api/v1/jobs``: submit, read, list, follow (SSE), download, cancel or delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, StreamingResponse

from orfeas.api.accept import accept, check_queue
from orfeas.api.errors import ApiError
from orfeas.api.events import job_stream, sse_response
from orfeas.api.intake import read_submission
from orfeas.api.responses import JSON
from orfeas.api.runtime import Runtime, runtime
from orfeas.api.schemas import (
    DOWNLOAD_RESPONSE,
    MULTIPART_SCHEMA,
    PREFIX,
    JobList,
    JobOut,
    error_responses,
    job_json,
    job_request_schema,
    job_url,
)
from orfeas.jobs.states import Job, JobState

router = APIRouter(prefix=PREFIX, tags=["jobs"])

JobId = Annotated[str, Path(description="The job's id.", max_length=64)]
ArtifactName = Annotated[
    str, Path(description="An artifact name from the job, e.g. model.stl, or input.png.", max_length=64)
]


async def find_job(rt: Runtime, job_id: str) -> Job:
    """The job ``job_id`` (read in the thread pool), or 404."""
    job = await run_in_threadpool(rt.jobs.get, job_id)
    if job is None:
        raise ApiError(404, "not_found", f"There is no job '{job_id}'.", field="job_id")
    return job


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    summary="Submit a job: an image (multipart) or a text (JSON)",
    responses={
        202: {
            "description": "Accepted; the job is queued.",
            "headers": {"Location": {"description": "The job's URL.", "schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 413, 415, 422, 429, 503, 507),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": MULTIPART_SCHEMA},
                "application/json": {"schema": job_request_schema()},
            },
        }
    },
)
async def submit_job(request: Request) -> Response:
    """Check the input (type sniffed from bytes, size and pixel caps, engine parameters) and queue a job.

    Nothing is stored unless every check passes; a full queue answers 503 with ``Retry-After``.
    """
    rt = runtime(request)
    check_queue(rt)
    job = await accept(rt, await read_submission(request, rt.settings))
    return JSON(job_json(job), status_code=202, headers={"Location": job_url(job.id)})


@router.get(
    "/jobs",
    response_model=JobList,
    summary="List jobs, newest first",
    responses=error_responses(401, 422, 429),
)
async def list_jobs(
    request: Request,
    state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Response:
    items, total = await run_in_threadpool(runtime(request).jobs.list, state, limit, offset)
    return JSON({"items": [job_json(j) for j in items], "total": total, "limit": limit, "offset": offset})


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    summary="A job's state",
    responses=error_responses(401, 404, 422, 429),
)
async def get_job(request: Request, job_id: JobId) -> Response:
    return JSON(job_json(await find_job(runtime(request), job_id)))


@router.get(
    "/jobs/{job_id}/events",
    summary="Follow a job with server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: job` messages whose data is the Job JSON: the current state first, "
            "then every change, ending after the final state.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 404, 422, 429),
    },
)
async def job_events(request: Request, job_id: JobId) -> Response:
    rt = runtime(request)
    await find_job(rt, job_id)
    return sse_response(job_stream(rt.hub, rt.jobs.get, job_id, job_json))


@router.get(
    "/jobs/{job_id}/artifacts/{name}",
    summary="Download a file of a job (model.<format>, input.png or mask-edit.png)",
    response_class=FileResponse,
    responses={
        200: DOWNLOAD_RESPONSE,
        **error_responses(401, 404, 422, 429),
    },
)
async def download(
    request: Request,
    job_id: JobId,
    name: str = Path(
        description="An artifact name from the job, e.g. model.stl, or input.png.", max_length=64
    ),
) -> Response:
    rt = runtime(request)
    return await send_job_file(rt, await find_job(rt, job_id), name)


async def send_job_file(rt: Runtime, job: Job, name: str, *, field: str = "name") -> FileResponse:
    """The file ``name`` of ``job`` as a download (shared with the compatibility routes).

    ``name`` is looked up among the job's recorded files, never joined from the URL; an unknown
    name is a 404 naming ``field``.
    """
    path = await run_in_threadpool(rt.jobs.store.file_path, job, name)
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", f"Job '{job.id}' has no file '{name}'.", field=field)
    if name in job.input_names and job.input_kind != "model":  # the normalised picture, its mask edit
        media, disposition, fmt = "image/png", "inline", "png"
    elif name == job.input_name:  # a mesh file brought for analysis or repair, as it was sent
        media, disposition, fmt = "application/octet-stream", "attachment", name.rsplit(".", 1)[-1]
    else:
        artifact = job.artifact(name)
        assert artifact is not None
        media, disposition, fmt = artifact.content_type, "attachment", artifact.format
    rt.hooks.downloaded(fmt, path.stat().st_size)
    return FileResponse(
        path,
        media_type=media,
        filename=f"orfeas-{job.id[:8]}-{name}",
        content_disposition_type=disposition,
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a queued or running job, or delete a finished one",
    responses={
        202: {"model": JobOut, "description": "Cancellation accepted (a running job stops between stages)."},
        204: {"description": "The finished job and its files were deleted."},
        **error_responses(401, 404, 422, 429, 507),
    },
    status_code=202,
    response_model=None,
)
async def delete_job(request: Request, job_id: JobId) -> Response:
    rt = runtime(request)
    job = await find_job(rt, job_id)
    if not job.finished:
        # If it finishes on its own meanwhile, the answer shows that; it is not deleted unasked.
        cancelled = await run_in_threadpool(rt.jobs.cancel, job_id)
        return JSON(job_json(cancelled or job), status_code=202)
    if not await run_in_threadpool(rt.jobs.delete, job_id):
        raise ApiError(404, "not_found", f"There is no job '{job_id}'.", field="job_id")
    return Response(status_code=204)
