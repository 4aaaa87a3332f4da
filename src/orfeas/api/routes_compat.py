"""The original ORFEAS routes, so scripts and front ends written for it keep working.

A thin layer over the v1 API (see ``docs/compat.md``): the original's two-step flow (upload a
picture, then ask for a model) becomes a *staged* picture under a reserved job id, then a v1 job
with that same id. Validation is v1's (the job service's admission), jobs go through
:func:`orfeas.api.accept.accept` (queue limits, result cache, hooks), downloads through
:func:`orfeas.api.routes_jobs.send_job_file` and updates through :func:`orfeas.api.events.job_stream`;
a picture painted by a diffusion model is a v1 ``paint`` job, run by the workers like any other.
Only request and response shapes are translated here.

Staged pictures live in ``data_dir/uploads`` as ``<id>.png`` (the normalised picture) plus
``<id>.json`` (what it came from), written in that order so the JSON marks a complete entry. They
expire after ``retention_hours`` like finished jobs (the service's retention run removes them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, StreamingResponse

from orfeas.api.accept import accept, checking
from orfeas.api.bodies import content_type, read_form, read_json
from orfeas.api.compat_shapes import (
    HINTS,
    QUALITY_FACES,
    STATUS,
    Generate3DOut,
    Generate3DRequest,
    JobStatusOut,
    TextToImageOut,
    TextToImageRequest,
    UploadOut,
    canonical_id,
    job_status,
    json_body,
    staged_status,
    urls,
)
from orfeas.api.errors import ApiError, from_orfeas_error
from orfeas.api.events import job_stream, sse_response
from orfeas.api.intake import Submission, body_limit, safe_filename
from orfeas.api.responses import JSON
from orfeas.api.routes_jobs import find_job, send_job_file
from orfeas.api.routes_meta import WEIGHTLESS_ENGINES, device
from orfeas.api.runtime import Runtime, runtime
from orfeas.api.schemas import DOWNLOAD_RESPONSE, LegacyHealth, ModelsInfo, error_responses
from orfeas.api.staging import Staged, discard_staged, load_staged, stage
from orfeas.errors import OrfeasError, first_problem
from orfeas.jobs.queue import new_job_id
from orfeas.jobs.states import FailureReason, Job, JobState
from orfeas.version import VERSION as orfeas_version

router = APIRouter(tags=["compat"])

M = TypeVar("M", bound=BaseModel)

CompatId = Annotated[
    str, PathParam(description="The job_id /api/upload-image or /api/text-to-image answered.", max_length=64)
]

_BINARY = {"schema": {"type": "string", "format": "binary"}}


# --- staging ------------------------------------------------------------------------------------


@dataclass
class _CompatState:
    """Per-app locks, made on first use (the app factory knows nothing of this module)."""

    painting: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    accepting: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


def _state(request: Request) -> _CompatState:
    state = getattr(request.app.state, "compat", None)
    if state is None:
        state = request.app.state.compat = _CompatState()
    return state


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (our own encoder wrote it)."""
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


# --- request reading ----------------------------------------------------------------------------


async def _read_upload(request: Request, rt: Runtime) -> tuple[bytes, str | None]:
    """The multipart file field ``image``, counted while it streams (as v1 reads uploads)."""
    if content_type(request) != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the picture as multipart/form-data with the file in the field 'image'.",
            field="content-type",
        )
    caps = {"image": rt.settings.max_upload_bytes}
    form = await read_form(request, body_limit(rt.settings), file_caps=caps, max_fields=16)
    try:
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise ApiError(
                422, "empty", "No image: send the picture as the multipart file field 'image'.", field="image"
            )
        return await upload.read(), upload.filename  # bounded: the stream stopped at the limit
    finally:
        await form.close()


async def _read_json(request: Request, model: type[M]) -> M:
    """A JSON body (the one bounded reader), checked against ``model``; 4xx in our error body."""
    raw = await read_json(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field, reason = first_problem([first])
        hint = HINTS.get(field.split(".")[0], "") if field else ""
        if first["type"] == "missing":
            message = f"'{field}' is missing."
        elif field:
            message = f"'{field}': {reason} (got {json.dumps(first.get('input'), default=str)[:60]})."
        else:
            message = f"The body must be a JSON object: {reason}."
        raise ApiError(422, "invalid_parameter", f"{message} {hint}".strip(), field=field) from exc


async def _found(rt: Runtime, raw: str) -> tuple[str, Job | None, Staged | None]:
    """The v1 job or staged picture called ``raw``; 404 when there is neither."""
    job_id = canonical_id(raw)
    if job_id is not None:
        job = await run_in_threadpool(rt.jobs.get, job_id)
        if job is not None:
            return job_id, job, None
        staged = await run_in_threadpool(load_staged, rt.settings, job_id)
        if staged is not None:
            return job_id, None, staged
    raise ApiError(404, "not_found", f"Job not found: there is no job '{raw}'.", field="job_id")


async def _checked(rt: Runtime, spec: dict[str, Any], data: bytes | None) -> Any:
    """Admit without making a job (a picture to stage): the same checks as any submission."""
    try:
        async with checking(rt, spec, data):
            return await run_in_threadpool(rt.jobs.check, spec, data)
    except OrfeasError as exc:
        error = from_orfeas_error(exc)
        if error.field == "text":  # the engines call it text; these requests call it prompt
            error.field = "prompt"
        raise error from exc


# --- the original routes ------------------------------------------------------------------------


@router.post(
    "/api/upload-image",
    response_model=UploadOut,
    summary="Upload a picture for /api/generate-3d (original ORFEAS route)",
    responses=error_responses(400, 401, 413, 415, 422, 429, 507),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {
                            "image": {
                                "type": "string",
                                "format": "binary",
                                "description": "PNG, JPEG, WebP, BMP, TIFF or GIF.",
                            }
                        },
                    }
                }
            },
        }
    },
)
async def upload_image(request: Request) -> Response:
    """Checks the picture exactly as ``POST /api/v1/jobs`` does (type sniffed from the bytes, byte
    and pixel caps) and keeps the normalised picture under a new job id until ``retention_hours``."""
    rt = runtime(request)
    data, filename = await _read_upload(request, rt)
    admitted = await _checked(rt, {}, data)
    png = await run_in_threadpool(admitted.input_bytes)
    job_id = new_job_id()
    name = safe_filename(filename)
    meta = {"source": "upload", "filename": name, "format": admitted.input_format, "bytes": len(data)}
    await run_in_threadpool(stage, rt.settings, job_id, png, meta)
    width, height = _png_size(png)
    return JSON(
        {
            "job_id": job_id,
            "filename": f"{job_id}.png",
            "original_filename": name,
            **urls(job_id),
            "status": "uploaded",
            "image_info": {
                "size": [width, height],
                "format": admitted.input_format.upper(),
                "mode": "RGBA",
                "file_size": len(data),
            },
        }
    )


@router.post(
    "/api/text-to-image",
    response_model=TextToImageOut,
    summary="Make a picture from a prompt for /api/generate-3d (original ORFEAS route)",
    responses={
        **error_responses(400, 401, 413, 415, 422, 429, 507),
        503: {**error_responses(503)[503], "description": "The GPU ran out of memory; see `Retry-After`."},
    },
    openapi_extra=json_body(TextToImageRequest),
)
async def text_to_image(request: Request) -> Response:
    """With a diffusion model on this server the prompt is painted — as a v1 ``paint`` job, run by
    a worker within the job timeout, one at a time — and the picture staged; without one
    (``method=auto``) it is typeset as lettering and the answer says so (``method: lettering``)."""
    rt = runtime(request)
    req = await _read_json(request, TextToImageRequest)
    painter = await _painter(rt)
    if req.method == "diffusion" and not painter["available"]:
        raise ApiError(
            422,
            "engine_unavailable",
            f"Text to image with a model is unavailable: {painter['reason']}",
            field="method",
        )
    if req.method != "lettering" and painter["available"]:
        async with _state(request).painting:
            png = await _paint(rt, req)
        method, note = "diffusion", "Image generated successfully!"
    else:
        admitted = await _checked(rt, {"text": req.prompt}, None)
        png = await run_in_threadpool(admitted.input_bytes)
        method = "lettering"
        note = (
            "The prompt was typeset as lettering, as asked."
            if req.method == "lettering"
            else f"No text-to-image model on this server ({painter['reason']}), so the prompt was typeset "
            "as lettering instead: /api/generate-3d will make a name plate of these words, not a picture "
            "of what they describe."
        )
    job_id = new_job_id()
    meta = {"source": method, "prompt": req.prompt, "style": req.style, "format": "png", "bytes": len(png)}
    await run_in_threadpool(stage, rt.settings, job_id, png, meta)
    width, height = _png_size(png)
    return JSON(
        {
            "job_id": job_id,
            "status": "completed",
            "progress": 100,
            "message": note,
            "method": method,
            "filename": f"{job_id}.png",
            **urls(job_id),
            "prompt": req.prompt,
            "style": req.style,
            "width": width,
            "height": height,
        }
    )


async def _painter(rt: Runtime) -> dict[str, Any]:
    """The diffusion step as this server's catalog lists it (available or not, and why)."""
    found = await run_in_threadpool(rt.jobs.catalog)
    return next(step for step in found["text_to_image"] if step["name"] == "diffusion")


async def _paint(rt: Runtime, req: TextToImageRequest) -> bytes:
    """Paint ``req`` as a ``paint`` job, wait for it, and hand back the picture (the job goes)."""
    options: dict[str, Any] = {"width": req.width // 8 * 8, "height": req.height // 8 * 8}
    if req.steps is not None:
        options["steps"] = min(req.steps, 100)
    if req.guidance_scale is not None:
        options["guidance_scale"] = req.guidance_scale
    spec = {
        "task": "paint",
        "text": f"{req.prompt}, {req.style} style",
        "text_to_image": "diffusion",
        "diffusion": options,
    }
    try:
        job = await accept(rt, Submission(spec))
    except ApiError as exc:  # the engines call it text; this request calls it prompt
        if exc.field == "text":
            exc.field = "prompt"
        elif exc.field == "text_to_image":
            exc.field = "method"
        raise
    done = await _finished(rt, job.id)
    try:
        if done.state is JobState.SUCCEEDED:
            picture = await run_in_threadpool(rt.jobs.read_file, done, "picture.png")
            if picture is not None:
                return picture
        if done.error_code == FailureReason.GPU_OOM:
            raise ApiError(
                503,
                "gpu_oom",
                f"The GPU ran out of memory painting the picture ({done.error_message}); try again later, "
                "or smaller.",
                headers={"Retry-After": "30"},
            )
        raise ApiError(
            500 if done.error_code in (None, FailureReason.INTERNAL) else 422,
            done.error_code or "internal",
            f"The picture could not be painted: {done.error_message or done.state.value}.",
            field="method",
        )
    finally:
        await run_in_threadpool(rt.jobs.delete, done.id)


async def _finished(rt: Runtime, job_id: str) -> Job:
    """Wait for ``job_id`` to end (woken by its events; the job timeout bounds it)."""
    with rt.hub.subscribe(job_id) as changed:
        while True:
            changed.clear()
            job = await find_job(rt, job_id)
            if job.finished:
                return job
            try:
                await asyncio.wait_for(changed.wait(), timeout=1.0)
            except TimeoutError:
                continue


@router.post(
    "/api/generate-3d",
    response_model=Generate3DOut,
    summary="Make a model from an uploaded or generated picture (original ORFEAS route)",
    responses={
        **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503, 507),
    },
    openapi_extra=json_body(Generate3DRequest),
)
async def generate_3d(request: Request) -> Response:
    """Queues a v1 job with the picture's job id (``quality`` → ``target_faces``, ``dimensions`` →
    ``size_mm``/``depth_mm``). Asking again for a format the job makes answers its current status."""
    rt = runtime(request)
    req = await _read_json(request, Generate3DRequest)
    job_id = canonical_id(req.job_id)
    if job_id is None:
        raise ApiError(404, "not_found", f"Job not found: there is no job '{req.job_id}'.", field="job_id")
    # One at a time from lookup to queue, so two requests for one picture cannot both create the job.
    async with _state(request).accepting:
        job = await run_in_threadpool(rt.jobs.get, job_id)
        if job is None:
            staged = await run_in_threadpool(load_staged, rt.settings, job_id)
            if staged is None:
                raise ApiError(
                    404,
                    "not_found",
                    f"Job not found: no uploaded picture '{req.job_id}' (pictures are kept "
                    f"{rt.settings.retention_hours:g} hours); upload it again.",
                    field="job_id",
                )
            job = await _make_model(rt, staged, req, job_id)
            await run_in_threadpool(discard_staged, rt.settings, job_id)  # the job keeps its own copy
        elif not await _same_request(rt, job, req):
            raise ApiError(
                409,
                "conflict",
                f"A model was already made from '{req.job_id}' ({', '.join(job.formats)}, "
                f"{_describe(job.spec.params)}); to make it with other settings, upload the picture again.",
                field="job_id",
            )
    status = "generating_3d" if not job.finished else STATUS[job.state]
    name = f"model.{req.format}"
    return JSON(
        {
            "job_id": job.id,
            "status": status,
            "format": req.format,
            "dimensions": req.dimensions.model_dump() if req.dimensions else None,
            "quality": req.quality,
            "engine": job.engine,
            "params": job.spec.params,
            "cached": job.cached_from is not None,
            "status_url": f"/api/job-status/{job.id}",
            "updates_url": f"/api/job-updates/{job.id}",
            "download_url": f"/api/download/{job.id}/{name}",
        }
    )


async def _schema_fields(rt: Runtime, engine: str) -> dict[str, Any]:
    """The parameters engine ``engine`` takes (name → its JSON schema), from the catalog."""
    found = await run_in_threadpool(rt.jobs.catalog)
    entry = next(e for e in found["engines"] if e["name"] == engine)
    return dict(entry["parameters"].get("properties", {}))


async def _same_request(rt: Runtime, job: Job, req: Generate3DRequest) -> bool:
    """Whether ``req`` asks for what ``job`` already makes (then it is answered, not refused)."""
    if job.task != "generate" or req.format not in job.formats:
        return False
    fields = await _schema_fields(rt, job.engine)
    wanted = engine_params(fields, job.spec.params.get("mode"), req)
    return all(job.spec.params.get(k) == v for k, v in wanted.items())


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "default settings"


def engine_params(fields: dict[str, Any], mode: str | None, req: Generate3DRequest) -> dict[str, Any]:
    """The original's ``quality`` and ``dimensions`` as engine parameters (only those it has)."""
    params: dict[str, Any] = {}
    if "target_faces" in fields:
        params["target_faces"] = QUALITY_FACES[req.quality]
    if req.dimensions is not None:
        if "size_mm" in fields:
            params["size_mm"] = max(req.dimensions.width, req.dimensions.height)
        depth = fields.get("depth_mm")
        # only where the engine's schema says the mode uses a depth (a puffy shape has none)
        if depth is not None and mode in depth.get("modes", [mode]) and req.dimensions.depth is not None:
            params["depth_mm"] = req.dimensions.depth
    return params


async def _make_model(rt: Runtime, staged: Staged, req: Generate3DRequest, job_id: str) -> Job:
    """The v1 job for a staged picture: typeset words stay a text job (a name plate, by the
    service's rule), pictures an image job."""
    engine = rt.settings.default_engine
    fields = await _schema_fields(rt, engine)
    found = await run_in_threadpool(rt.jobs.catalog)
    lettering = staged.meta.get("source") == "lettering"
    mode = fields.get("mode", {}).get("default")
    if lettering:
        mode = found["rules"]["text"].get(engine, {}).get("mode", mode)
    spec: dict[str, Any] = {
        "engine": engine,
        "params": engine_params(fields, mode, req),
        "formats": [req.format],
    }
    if lettering:
        sub = Submission({**spec, "text": str(staged.meta["prompt"])})
    else:
        png = await run_in_threadpool(staged.png.read_bytes)
        sub = Submission(spec, png, staged.meta.get("filename"))
    # the metrics count the picture as it was uploaded, not the staged PNG
    upload = (str(staged.meta.get("format", "png")), int(staged.meta.get("bytes", 0)))
    try:
        return await accept(rt, sub, job_id=job_id, upload=upload)
    except ApiError as exc:
        if exc.field in ("size_mm", "depth_mm"):  # the client sent dimensions, not these names
            raise ApiError(
                422,
                "invalid_parameter",
                f"dimensions: {exc.message} ({exc.field} is the longest side for width/height, "
                "the relief height for depth).",
                field="dimensions",
            ) from exc
        raise


@router.get(
    "/api/job-status/{job_id}",
    response_model=JobStatusOut,
    summary="A job's status in the original ORFEAS shape",
    responses=error_responses(401, 404, 422, 429),
)
async def get_job_status(request: Request, job_id: CompatId) -> Response:
    _, job, staged = await _found(runtime(request), job_id)
    return JSON(job_status(job) if job is not None else staged_status(staged))  # type: ignore[arg-type]


_ORIGINAL_NAME = "model_{id}."  # the original named files model_<job_id>.<format>


@router.get(
    "/api/download/{job_id}/{filename}",
    summary="Download a model file (original ORFEAS route)",
    response_class=FileResponse,
    responses={
        200: DOWNLOAD_RESPONSE,
        **error_responses(401, 404, 422, 429),
    },
)
async def download_file(
    request: Request,
    job_id: CompatId,
    filename: Annotated[
        str, PathParam(description="A file name from job-status, e.g. model.stl.", max_length=128)
    ],
) -> Response:
    rt = runtime(request)
    _, job, _ = await _found(rt, job_id)
    if job is None:
        message = f"Job '{job_id}' has no model yet: POST /api/generate-3d first."
        raise ApiError(404, "not_found", message, field="job_id")
    name = filename
    for prefix in (_ORIGINAL_NAME.format(id=job.id), _ORIGINAL_NAME.format(id=job_id)):
        if filename.startswith(prefix):
            name = "model." + filename.removeprefix(prefix)  # model_<id>.stl → model.stl
    return await send_job_file(rt, job, name, field="filename")


@router.get(
    "/api/preview/{filename}",
    summary="The uploaded or generated picture (original ORFEAS route)",
    response_class=FileResponse,
    responses={
        200: {"description": "The normalised picture.", "content": {"image/png": _BINARY}},
        **error_responses(401, 404, 422, 429),
    },
)
async def preview(
    request: Request,
    filename: Annotated[str, PathParam(description="<job_id>.png, as preview_url says.", max_length=80)],
) -> Response:
    rt = runtime(request)
    _, job, staged = await _found(rt, filename.removesuffix(".png"))
    if job is not None:
        return await send_job_file(rt, job, job.input_name, field="filename")
    assert staged is not None
    return FileResponse(
        staged.png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get(
    "/api/job-updates/{job_id}",
    summary="Follow a job: the original's Socket.IO job_update events as server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`event: job_update` messages whose data is the job-status JSON: the current "
            "status first, then every change, ending after the final one.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(401, 404, 422, 429),
    },
)
async def job_updates(request: Request, job_id: CompatId) -> Response:
    rt = runtime(request)
    found_id, job, staged = await _found(rt, job_id)

    async def messages() -> AsyncIterator[str]:
        if job is None:  # a picture waiting for generate-3d: its status, and nothing follows
            payload = json.dumps(staged_status(staged))  # type: ignore[arg-type]
            yield f"event: job_update\ndata: {payload}\n\n"
            return
        async for message in job_stream(rt.hub, rt.jobs.get, found_id, job_status, event="job_update"):
            yield message

    return sse_response(messages())


# --- health, as the original answered it --------------------------------------------------------


@router.get(
    "/api/health",
    response_model=LegacyHealth,
    tags=["health"],
    summary="Service health in the original ORFEAS shape",
)
async def legacy_health(request: Request) -> Response:
    rt = runtime(request)
    found = await run_in_threadpool(rt.jobs.catalog)
    states = {e["name"]: e["available"] for e in found["engines"]}
    queue = rt.jobs.queue
    alive = queue.alive()
    dev = device()
    return JSON(
        {
            "status": "online" if alive else "degraded",
            "models_ready": alive and any(states.values()),
            "device": dev,
            "gpu_available": dev == "cuda",
            "version": orfeas_version,
            "engines": states,
            "active_jobs": queue.running,
            "queued_jobs": queue.waiting,
            "uptime_s": round(time.time() - rt.started_at, 3),
        }
    )


@router.get(
    "/api/models-info",
    response_model=ModelsInfo,
    tags=["health"],
    summary="Engines as models, in the original ORFEAS shape",
    responses=error_responses(401, 429),
)
async def models_info(request: Request) -> Response:
    rt = runtime(request)
    dev = device()
    found = await run_in_threadpool(rt.jobs.catalog)
    models = [
        {
            "name": engine["name"],
            "version": engine["version"],
            "available": engine["available"],
            "loaded": engine["available"] and engine["name"] in WEIGHTLESS_ENGINES,
            "reason": engine["reason"],
            "device": dev,
        }
        for engine in found["engines"]
    ]
    return JSON(
        {
            "models": models,
            "device": dev,
            "default_engine": rt.settings.default_engine,
            "models_ready": any(m["available"] for m in models),
        }
    )
