"""The original ORFEAS's request and response shapes, and how a v1 job is told in them.

:mod:`orfeas.api.routes_compat` serves the routes; this module holds what they speak: the
pydantic models (for validation and OpenAPI), the mapping of a v1 job's state and stage to the
original's status and step sentences, and the original's ids.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orfeas.api.staging import Staged
from orfeas.jobs import FORMATS, Format
from orfeas.jobs.states import Job, JobState

#: quality 1–10 → triangles in the finished mesh (``target_faces``). 7, the original's default,
#: is our engines' default of 50 000; each step down roughly halves the cost, each step up buys detail.
QUALITY_FACES: dict[int, int] = {
    1: 2_000,
    2: 5_000,
    3: 10_000,
    4: 20_000,
    5: 30_000,
    6: 40_000,
    7: 50_000,
    8: 100_000,
    9: 200_000,
    10: 400_000,
}

#: The original's art styles; with a diffusion model the style is added to the prompt.
Style = Literal["realistic", "artistic", "anime", "cyberpunk", "fantasy", "minimalist"]

#: A v1 job's state → the original's status names.
STATUS = {
    JobState.QUEUED: "initializing",
    JobState.RUNNING: "processing",
    JobState.SUCCEEDED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "failed",
}

#: Pipeline stage → the original's ``step`` sentence.
STEPS = {
    "decode": "Reading the picture...",
    "mask": "Finding the subject...",
    "height": "Shaping the surface...",
    "mesh": "Generating 3D mesh...",
    "simplify": "Simplifying the mesh...",
    "verify": "Checking the model is printable...",
    "export": "Writing the model files...",
}


class Dimensions(BaseModel):
    """The original's size box in millimetres."""

    width: float = Field(100, gt=0, le=1000, description="Width in mm.")
    height: float = Field(100, gt=0, le=1000, description="Height in mm.")
    depth: float | None = Field(None, gt=0, le=500, description="Relief height in mm (relief mode only).")


class Generate3DRequest(BaseModel):
    """``POST /api/generate-3d`` as the original took it."""

    job_id: str = Field(max_length=64, description="The id /api/upload-image or /api/text-to-image answered.")
    format: Format = Field("stl", description="The model file to make.")
    dimensions: Dimensions | None = Field(None, description="Default: the engine's own size.")
    quality: int = Field(7, ge=1, le=10, description="1 (fast, coarse) to 10 (slow, fine).")


class TextToImageRequest(BaseModel):
    """``POST /api/text-to-image`` as the original took it (``method`` is ours)."""

    prompt: str = Field(min_length=1, max_length=1000, description="What to picture.")
    style: Style = Field("realistic", description="Added to the prompt for a diffusion model.")
    width: int = Field(512, ge=64, le=2048, description="Picture width (rounded down to a multiple of 8).")
    height: int = Field(512, ge=64, le=2048, description="Picture height (rounded down to a multiple of 8).")
    steps: int | None = Field(None, ge=1, le=150, description="Denoising steps (at most 100 are run).")
    guidance_scale: float | None = Field(None, ge=0, le=30, description="Prompt strength.")
    method: Literal["auto", "diffusion", "lettering"] = Field(
        "auto",
        description="auto: a diffusion model when this server has one, else the prompt typeset as "
        "lettering; diffusion: the model or a 422 saying why not; lettering: always typeset.",
    )


class ImageInfo(BaseModel):
    size: list[int] = Field(description="[width, height] in pixels.")
    format: str
    mode: str
    file_size: int


class UploadOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    filename: str
    original_filename: str | None
    preview_url: str
    image_url: str
    status: Literal["uploaded"]
    image_info: ImageInfo


class TextToImageOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    status: Literal["completed"]
    progress: int
    message: str
    method: Literal["diffusion", "lettering"]
    filename: str
    preview_url: str
    image_url: str
    prompt: str
    width: int
    height: int


class Generate3DOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    job_id: str
    status: Literal["generating_3d", "completed", "failed"]
    format: Format
    dimensions: Dimensions | None
    quality: int
    engine: str
    params: dict[str, Any] = Field(description="The v1 engine parameters the request was mapped to.")
    cached: bool
    status_url: str
    updates_url: str
    download_url: str


class FileOut(BaseModel):
    name: str
    format: str
    size: int
    download_url: str


class JobStatusOut(BaseModel):
    """The original's job status (also the data of each ``job_update`` message)."""

    model_config = ConfigDict(extra="allow")

    job_id: str
    status: Literal["uploaded", "initializing", "processing", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    step: str
    message: str
    state: JobState | None = Field(None, description="The v1 job state, once a model was asked for.")
    output_file: str | None = None
    download_url: str | None = None
    files: list[FileOut] | None = None
    error: str | None = None
    error_code: str | None = None


def canonical_id(raw: str) -> str | None:
    """Our ids are uuid4 hex; the original's were dashed UUIDs: accept both, anything else is unknown."""
    try:
        return uuid.UUID(raw.strip()).hex
    except ValueError:
        return None


HINTS = {
    "job_id": "job_id is the id that /api/upload-image or /api/text-to-image answered with.",
    "format": f"format must be one of {', '.join(FORMATS)}.",
    "quality": "quality is a whole number from 1 (fast, coarse) to 10 (slow, fine).",
    "dimensions": "dimensions are {width, height, depth} in millimetres.",
    "prompt": "prompt is the text to picture.",
    "style": "style is one of realistic, artistic, anime, cyberpunk, fantasy, minimalist.",
}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined (an ``openapi_extra`` body cannot refer to them)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.rsplit("/", 1)[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}
    }


# --- shapes out ---------------------------------------------------------------------------------


def urls(job_id: str) -> dict[str, str]:
    preview = f"/api/preview/{job_id}.png"
    return {"preview_url": preview, "image_url": preview}


def job_status(job: Job) -> dict[str, Any]:
    """The original's status dict for a v1 job (also each ``job_update`` message)."""
    if job.stage is None:
        step = "Waiting in the queue..." if job.state is JobState.QUEUED else "Starting 3D generation..."
    else:
        step = STEPS.get(job.stage, f"{job.stage.capitalize()}...")
    out: dict[str, Any] = {
        "job_id": job.id,
        "status": STATUS[job.state],
        "state": job.state.value,
        "progress": round(job.progress * 100),
        "step": step,
        "message": step,
        "format": job.formats[0] if job.formats else None,
        "engine": job.engine,
        "cached": job.cached_from is not None,
        **urls(job.id),
    }
    if job.state is JobState.SUCCEEDED:
        files = [
            {
                "name": a.name,
                "format": a.format,
                "size": a.size,
                "download_url": f"/api/download/{job.id}/{a.name}",
            }
            for a in job.artifacts
        ]
        first = next((f for f in files if f["format"] == out["format"]), files[0] if files else None)
        out.update(
            step="3D model generation complete!",
            message="3D model generation complete!",
            files=files,
            output_file=first["name"] if first else None,
            download_url=first["download_url"] if first else None,
            printable=(job.report or {}).get("printable"),
            report=job.report,
        )
    elif job.state in (JobState.FAILED, JobState.CANCELLED):
        reason = job.error_message or "The job did not finish."
        out.update(step=reason, message=reason, error=reason, error_code=job.error_code)
    return out


def staged_status(staged: Staged) -> dict[str, Any]:
    """A staged picture as the original showed it: an upload waits, a text-to-image picture is done."""
    painted = staged.meta.get("source") != "upload"
    message = (
        "Image generated; POST /api/generate-3d with this job_id to make a model."
        if painted
        else "Image uploaded; POST /api/generate-3d with this job_id to make a model."
    )
    return {
        "job_id": staged.id,
        "status": "completed" if painted else "uploaded",
        "type": "text_to_image" if painted else "upload",
        "progress": 100 if painted else 0,
        "step": message,
        "message": message,
        "filename": staged.png.name,
        **urls(staged.id),
    }
