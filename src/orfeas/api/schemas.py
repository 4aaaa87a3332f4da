"""The JSON the API speaks, as pydantic models (for OpenAPI) and the fast builders that emit it.

Hot routes return :func:`job_json` dicts directly instead of validating a model per response;
the API tests check that these dicts match the models, so the documented schema stays the truth.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orfeas.jobs import MASK_EDIT_NAME, MASK_METHODS, MASK_SOURCES, JobSpec
from orfeas.jobs.states import FailureReason, Job, JobState, iso

PREFIX = "/api/v1"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable reason, e.g. too_large, unsupported_type.")
    message: str = Field(description="A sentence for people.")
    field: str | None = Field(None, description="The request field at fault, when there is one.")


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: ErrorDetail


class JobError(BaseModel):
    code: FailureReason
    message: str


class JobInput(BaseModel):
    kind: Literal["image", "text", "model"]
    text: str | None = None
    filename: str | None = None
    text_to_image: dict[str, Any] | None = Field(
        None, description="For a painted text: the step and its options, {method, options}."
    )
    mask_edit: bool = Field(
        False, description="The picture came with a painted edit of its mask (see links.mask_edit)."
    )


class ArtifactOut(BaseModel):
    name: str = Field(examples=["model.stl"])
    format: str = Field(description="A model format (stl, 3mf, obj, glb, ply), or png for a painting.")
    size: int = Field(ge=0, description="Bytes.")
    content_type: str
    url: str


class JobLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    self_: str = Field(alias="self")
    events: str
    input: str
    mask_edit: str | None = Field(None, description="The job's mask edit as a PNG, when it has one.")


class JobOut(BaseModel):
    """A generation job: where it is, what it made, and where to get it."""

    id: str
    task: Literal["generate", "analyze", "repair", "paint"] = Field(
        description="generate a model from the input, analyze / repair a mesh file, or paint a picture."
    )
    state: JobState
    stage: str | None = Field(None, description="Pipeline stage while running (decode, mask, … export).")
    progress: float = Field(ge=0, le=1)
    engine: str
    params: dict[str, Any]
    input: JobInput
    error: JobError | None = None
    attempts: int = Field(ge=0, description="Runs started (a crash-interrupted job may run again).")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = Field(description="Seconds per stage.")
    report: dict[str, Any] | None = Field(None, description="The printability report, once succeeded.")
    artifacts: list[ArtifactOut]
    cached: bool = Field(description="True when the result was taken from an identical earlier job.")
    cached_from: str | None = Field(None, description="That earlier job's id, when cached.")
    links: JobLinks


class JobList(BaseModel):
    items: list[JobOut]
    total: int = Field(ge=0)
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)


def job_request_schema() -> dict[str, Any]:
    """The JSON body of ``POST /api/v1/jobs``: a :class:`JobSpec` (any field may be left out)."""
    schema = JobSpec.model_json_schema()
    schema["description"] = (
        "What the job makes. A text job: the text is typeset and made into a name plate by default "
        "(see `rules` in GET /api/v1/engines), or painted with `text_to_image: diffusion`."
    )
    return schema


def _only(field: str, *, tasks: list[str]) -> dict[str, Any]:
    """A multipart body whose one input is ``field``, with the ``task`` values it may name (a mask
    edit goes with an image only)."""
    excluded = [f for f in ("image", "model", "text") if f != field]
    if field != "image":
        excluded.append("mask_edit")
    others = [{"required": [f]} for f in excluded]
    return {"required": [field], "not": {"anyOf": others}, "properties": {"task": {"enum": tasks}}}


MULTIPART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "PNG, JPEG, WebP, BMP, TIFF or GIF."},
        "mask_edit": {
            "type": "string",
            "format": "binary",
            "description": "With an image: a painted correction of its subject mask, checked like the "
            "image and of its size (or scaled to it, same proportions). Greyscale: black (< 64) removes, "
            "white (≥ 192) adds, mid-grey or transparent leaves the mask source's answer.",
        },
        "model": {
            "type": "string",
            "format": "binary",
            "description": "Instead of an image: a mesh file (STL, OBJ, PLY, GLB, 3MF) to analyze or repair.",
        },
        "task": {
            "type": "string",
            "enum": ["generate", "analyze", "repair"],
            "description": "With a model: analyze (default) or repair. Options: units, size_mm, "
            "target_faces, lay_flat, max_volume_loss.",
        },
        "text": {"type": "string", "description": "Instead of an image: text to typeset (or paint)."},
        "text_to_image": {
            "type": "string",
            "enum": ["lettering", "diffusion"],
            "description": "How a text becomes a picture.",
        },
        "diffusion": {"type": "string", "description": "Options of the diffusion step as a JSON object."},
        "engine": {"type": "string", "description": "Engine name; default: the server's default engine."},
        "params": {"type": "string", "description": "The engine's parameters as a JSON object."},
        "lettering": {"type": "string", "description": "Lettering options as a JSON object (text jobs)."},
        "formats": {"type": "string", "description": "Comma-separated formats; default stl,3mf,obj,glb,ply."},
    },
    "additionalProperties": {
        "type": "string",
        "description": "Any engine parameter as its own field, e.g. mode=puffy, size_mm=80.",
    },
    # one input — a picture, a mesh or a text — and the tasks each one takes
    "oneOf": [
        _only("image", tasks=["generate"]),
        _only("model", tasks=["analyze", "repair"]),
        _only("text", tasks=["generate"]),
    ],
}


MASK_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {
            "type": "string",
            "format": "binary",
            "description": "The picture: PNG, JPEG, WebP, BMP, TIFF or GIF, under the same caps as a job's.",
        },
        "mask": {
            "type": "string",
            "enum": list(MASK_SOURCES),
            "default": "auto",
            "description": "Where the mask comes from, as the engines' `mask` parameter (see `masks` in "
            "GET /api/v1/engines for which can run here).",
        },
    },
    "additionalProperties": False,
}


class MaskPicture(BaseModel):
    format: str = Field(description="The picture's type, sniffed from its bytes.")
    width: int = Field(ge=1, description="Pixels, upright (EXIF orientation applied).")
    height: int = Field(ge=1)
    transparent: bool = Field(description="Its alpha channel separates a subject (mask=alpha can answer).")


class MaskOut(BaseModel):
    """A picture's subject mask, found as a job's engine would find it, before any model is built."""

    source: Literal[MASK_METHODS] = Field(  # type: ignore[valid-type]
        description="What made the mask: a source, or `whole` when nothing could be told from the "
        "background (the whole picture)."
    )
    asked: Literal[MASK_SOURCES] = Field(description="The source asked for.")  # type: ignore[valid-type]
    confidence: float = Field(ge=0, le=1, description="How far to trust it (each source on its own scale).")
    seconds: float = Field(ge=0, description="Time taken to find it.")
    reason: str | None = Field(None, description="Why a preferred source was not used.")
    coverage: float = Field(ge=0, le=1, description="Share of the picture that is subject.")
    width: int = Field(ge=1, description="The mask's size: at most 1024 px, the picture's proportions.")
    height: int = Field(ge=1)
    details: dict[str, Any] = Field(
        description="What the source says besides (the network, the other source's confidence…)."
    )
    picture: MaskPicture
    mask: str = Field(
        description="The mask as a data URL of an 8-bit greyscale PNG (white: subject); a brush edit "
        "painted over it at this size goes with the job as `mask_edit`.",
        examples=["data:image/png;base64,iVBORw0KGgo…"],
    )


class EngineOut(BaseModel):
    name: str
    version: str
    available: bool
    reason: str | None = Field(None, description="Why the engine cannot run here, when it cannot.")
    parameters: dict[str, Any] = Field(description="JSON schema of the engine's parameters.")


class Limits(BaseModel):
    max_upload_bytes: int
    max_image_pixels: int
    max_text_chars: int
    max_model_bytes: int = Field(description="Largest mesh file for analyze / repair jobs.")
    max_model_faces: int = Field(description="Most triangles in a mesh file.")


class MeshDoctorOut(BaseModel):
    tasks: list[str] = Field(examples=[["analyze", "repair"]])
    parameters: dict[str, Any] = Field(description="JSON schema of the analyze / repair options.")


class Rules(BaseModel):
    text: dict[str, dict[str, Any]] = Field(
        description="engine → parameters a typeset text gets unless the client sets them (a name plate)."
    )
    mesh_formats: dict[str, list[str]] = Field(description="mesh task → the formats it writes by default.")


class EngineList(BaseModel):
    engines: list[EngineOut]
    text_to_image: list[EngineOut] = Field(
        description="Neural text → picture steps a text job may name in `text_to_image` (besides lettering)."
    )
    mesh_doctor: MeshDoctorOut = Field(description="Mesh jobs: the tasks and their options' schema.")
    default: str
    formats: list[str] = Field(description="The model formats a job may ask for.")
    rules: Rules = Field(description="The product's defaults, so clients need not copy them.")
    lettering: dict[str, Any] = Field(description="JSON schema of the lettering options of a typeset text.")
    masks: list[dict[str, Any]] = Field(
        description="Where a subject's mask can come from (the `mask` parameter), and why one cannot."
    )
    limits: Limits


class Liveness(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Check]


class LegacyHealth(BaseModel):
    """``/api/health`` as the original ORFEAS answered it (plus a few counters)."""

    status: Literal["online", "degraded"]
    models_ready: bool
    device: str
    gpu_available: bool
    version: str
    engines: dict[str, bool]
    active_jobs: int
    queued_jobs: int
    uptime_s: float


class ModelInfo(BaseModel):
    name: str
    version: str
    available: bool
    loaded: bool
    reason: str | None = None
    device: str


class ModelsInfo(BaseModel):
    """``/api/models-info`` as the original ORFEAS answered it."""

    models: list[ModelInfo]
    device: str
    default_engine: str
    models_ready: bool


# --- builders ---------------------------------------------------------------------------------


def job_url(job_id: str) -> str:
    return f"{PREFIX}/jobs/{job_id}"


def job_json(job: Job) -> dict[str, Any]:
    """The Job JSON of the contract for ``job``."""
    base = job_url(job.id)
    spec = job.spec
    error = None
    if job.state in (JobState.FAILED, JobState.CANCELLED) and job.error_code:
        error = {"code": job.error_code, "message": job.error_message or ""}
    return {
        "id": job.id,
        "task": job.task,
        "state": job.state.value,
        "stage": job.stage,
        "progress": job.progress,
        "engine": job.engine,
        "params": spec.params,
        "input": {
            "kind": job.input_kind,
            "text": spec.text,
            "filename": job.input_filename,
            "text_to_image": {"method": spec.text_to_image, "options": spec.diffusion}
            if spec.painted
            else None,
            "mask_edit": spec.mask_edit,
        },
        "error": error,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "timings": job.timings,
        "report": job.report,
        "artifacts": [
            {
                "name": a.name,
                "format": a.format,
                "size": a.size,
                "content_type": a.content_type,
                "url": f"{base}/artifacts/{a.name}",
            }
            for a in job.artifacts
        ],
        "cached": job.cached_from is not None,
        "cached_from": job.cached_from,
        "links": {
            "self": base,
            "events": f"{base}/events",
            "input": f"{base}/artifacts/{job.input_name}",
            "mask_edit": f"{base}/artifacts/{MASK_EDIT_NAME}" if spec.mask_edit else None,
        },
    }


#: The ``200`` of a route that sends a job's file: its content types (models, a picture).
DOWNLOAD_RESPONSE: dict[str, Any] = {
    "description": "The file, with its content type and a Content-Disposition header.",
    "content": {
        media: {"schema": {"type": "string", "format": "binary"}}
        for media in (
            "application/octet-stream",
            "model/stl",
            "model/3mf",
            "model/obj",
            "model/gltf-binary",
            "image/png",
        )
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting the error body for each status."""
    text = {
        400: "Malformed request.",
        401: "An API key is required (when the server has keys configured).",
        404: "No such job or file.",
        409: "The job is in a state that does not allow this.",
        413: "The upload is over the byte or pixel limit.",
        415: "The file is not an image type ORFEAS reads (sniffed from its bytes).",
        408: "The body arrived slower than the minimum rate.",
        422: "A parameter is invalid; `error.field` names it.",
        429: "Rate limit exceeded; see `Retry-After`.",
        503: "The job queue is full; see `Retry-After`.",
        507: "The data disk is (nearly) full (`storage_full`); see `Retry-After`. Deleting finished jobs "
        "frees room.",
    }
    retry = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": text.get(status, "Error.")}
        if status in (429, 503, 507):
            entry["headers"] = retry
        out[status] = entry
    return out
