"""Turning a ``POST /api/v1/jobs`` request into a checked :class:`Submission`, or a 4xx.

Everything is checked before anything is written: the body is counted while it streams (never
read whole when too big), the engine and its parameters are validated against the engine's
schema, and the image is decoded (type sniffed from its bytes, byte and pixel caps), the text
typeset, or a mesh file (field ``model``, ``task=analyze|repair``) parsed in full under the mesh
caps. Only a request that passes all of this becomes a job.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from orfeas.api.errors import ApiError, from_orfeas_error
from orfeas.api.schemas import TextJobRequest
from orfeas.api.security import BodyTooLarge
from orfeas.engines import get_engine
from orfeas.engines.base import require_available, validate_model, validate_parameters
from orfeas.errors import EngineUnavailable, InputRejected, OrfeasError
from orfeas.imaging import LetteringOptions, checked_text, decode_image, encode_png, render_text
from orfeas.jobs.states import INPUT_NAME
from orfeas.mesh.doctor import DoctorParameters
from orfeas.mesh.exchange import FORMATS
from orfeas.mesh.exchange.untrusted import read_model
from orfeas.pipeline import checked_text_to_image
from orfeas.settings import Settings

#: Room for multipart boundaries and the small form fields on top of the image itself.
FORM_OVERHEAD = 256 * 1024
#: JSON bodies carry text and parameters only.
JSON_LIMIT = 256 * 1024

_FORM_FIELDS = frozenset({"image", "model", "task", "text", "engine", "params", "lettering", "formats"})
#: The file fields a submission may carry: a picture to build from, or a mesh to analyse or repair.
_FILE_FIELDS = frozenset({"image", "model"})
#: The name a mesh job shows as its engine (the mesh doctor, not a generation engine).
DOCTOR = "doctor"
MESH_TASKS = ("analyze", "repair")


def body_limit(settings: Settings) -> int:
    """The largest request body accepted: the bigger of the image and mesh caps, plus the form."""
    return max(settings.max_upload_bytes, settings.max_model_bytes) + FORM_OVERHEAD


@dataclass(frozen=True)
class Submission:
    """A checked request: what the job will run, and its normalised input image."""

    engine: str
    params: dict[str, Any]
    formats: tuple[str, ...]
    input_kind: str  # "image", "text" or "model"
    input_png: bytes | None  # the normalised picture, the mesh file as sent, or None (to be painted)
    input_format: str  # sniffed image or mesh format, or "text"
    input_size: int  # bytes received (image, model) or characters (text)
    text: str | None = None
    filename: str | None = None
    lettering: dict[str, Any] | None = None
    task: str = "generate"
    text_to_image: dict[str, Any] | None = None

    @property
    def input_name(self) -> str:
        return f"input.{self.input_format}" if self.input_kind == "model" else INPUT_NAME


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk, failing with 413 as soon as it passes ``limit`` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        yield chunk


async def read_submission(request: Request, settings: Settings) -> Submission:
    """Parse and check a multipart or JSON submission."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "multipart/form-data":
            return await _from_form(request, settings)
        if content_type == "application/json":
            return await _from_json(request, settings)
    except ClientDisconnect as exc:
        raise ApiError(400, "bad_request", "The client closed the connection mid-upload.") from exc
    except OrfeasError as exc:
        raise from_orfeas_error(exc) from exc
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data (an image file) or application/json (a text job).",
        field="content-type",
    )


async def parse_form(request: Request, settings: Settings, max_fields: int = 64) -> FormData:
    """The multipart form: one file at most, counted while it streams (413 past :func:`body_limit`),
    400 when it is malformed or the client goes away mid-upload. Close it when done."""
    parser = MultiPartParser(
        request.headers,
        limited_stream(request, body_limit(settings)),
        max_files=1,
        max_fields=max_fields,
        max_part_size=64 * 1024,
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(400, "bad_request", f"The multipart body is malformed: {exc.message}") from exc
    except ClientDisconnect as exc:
        raise ApiError(400, "bad_request", "The client closed the connection mid-upload.") from exc


async def _from_form(request: Request, settings: Settings) -> Submission:
    form = await parse_form(request, settings)
    try:
        fields: dict[str, str] = {}
        upload: UploadFile | None = None
        upload_field = "image"
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key not in _FILE_FIELDS:
                    raise ApiError(422, "invalid_parameter", f"Unexpected file field '{key}'.", field=key)
                upload, upload_field = value, key
            elif key in fields:
                raise ApiError(422, "invalid_parameter", f"Field '{key}' is given twice.", field=key)
            else:
                fields[key] = value
        for key in _FILE_FIELDS & fields.keys():
            raise ApiError(422, "invalid_parameter", f"'{key}' must be a file upload.", field=key)
        if upload_field == "model" and upload is not None:
            data = await upload.read()  # bounded: the stream above stopped at the limit
            return await model_submission(data, fields, settings, upload.filename)
        if "task" in fields and fields["task"] != "generate":
            raise ApiError(
                422,
                "invalid_parameter",
                f"task '{fields['task']}' needs a mesh file in the field 'model'.",
                field="task",
            )

        engine_name = fields.get("engine") or settings.default_engine
        params = _json_object(fields.get("params"), "params")
        for key, value in fields.items():
            if key not in _FORM_FIELDS:
                params[key] = value  # an engine parameter sent as its own field
        formats = _formats(fields.get("formats"))
        text = fields.get("text")
        lettering = _json_object(fields.get("lettering"), "lettering") if "lettering" in fields else None

        if upload is not None and text is not None:
            raise ApiError(422, "invalid_parameter", "Send an image or a text, not both.", field="text")
        if upload is None:
            if text is None:
                raise ApiError(422, "empty", "Send an image file (field 'image') or a text.", field="image")
            return await text_submission(text, engine_name, params, lettering, formats, settings)
        data = await upload.read()  # bounded: the stream above stopped at the limit
        return await image_submission(data, engine_name, params, formats, settings, upload.filename)
    finally:
        await form.close()


async def model_submission(
    data: bytes, fields: dict[str, str], settings: Settings, filename: str | None = None
) -> Submission:
    """Check a mesh job: the task and its options, then the file (sniffed, capped, parsed in full)."""
    task = fields.get("task", "analyze")
    if task not in MESH_TASKS:
        raise ApiError(
            422,
            "invalid_parameter",
            f"task must be one of {', '.join(MESH_TASKS)}; got '{task}'.",
            field="task",
        )
    if fields.get("text") is not None:
        raise ApiError(422, "invalid_parameter", "Send a mesh or a text, not both.", field="text")
    params = _json_object(fields.get("params"), "params")
    params.update({k: v for k, v in fields.items() if k not in _FORM_FIELDS})
    checked = validate_model(DoctorParameters, params).model_dump(mode="json")
    # Parsed here, in full, so a hostile file is refused now and nothing is stored.
    try:
        _, facts = await run_in_threadpool(
            read_model, data, max_bytes=settings.max_model_bytes, max_faces=settings.max_model_faces
        )
    except InputRejected as exc:
        exc.field = exc.field or "model"
        raise
    formats = _formats(fields.get("formats")) if fields.get("formats") else _MESH_DEFAULT_FORMATS[task]
    return Submission(
        engine=DOCTOR,
        params={k: checked[k] for k in params if k in checked},
        formats=formats,
        input_kind="model",
        input_png=data,
        input_format=str(facts["format"]),
        input_size=len(data),
        filename=_safe_filename(filename),
        task=task,
    )


#: An analysis keeps the mesh as it is, for viewing; a repair gives every printable format.
_MESH_DEFAULT_FORMATS = {"analyze": ("glb",), "repair": FORMATS}


async def image_submission(
    data: bytes,
    engine_name: str,
    params: dict[str, Any],
    formats: tuple[str, ...],
    settings: Settings,
    filename: str | None = None,
) -> Submission:
    """Check an image job: engine and parameters first, then the picture (sniffed, capped, decoded)."""
    engine, checked = _check_engine(engine_name, params, settings)
    decoded = await run_in_threadpool(decode_image, data, settings)
    png = await run_in_threadpool(encode_png, decoded.rgba)
    return Submission(
        engine=engine,
        params=checked,
        formats=formats,
        input_kind="image",
        input_png=png,
        input_format=decoded.format,
        input_size=len(data),
        filename=_safe_filename(filename),
    )


async def _from_json(request: Request, settings: Settings) -> Submission:
    body = bytearray()
    async for chunk in limited_stream(request, JSON_LIMIT):
        body += chunk
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"The body is not valid JSON: {exc}.") from exc
    try:
        req = TextJobRequest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ApiError(422, "invalid_parameter", f"Field '{field}': {first['msg']}.", field=field) from exc
    formats = tuple(dict.fromkeys(req.formats)) if req.formats else FORMATS
    engine = req.engine or settings.default_engine
    if req.text_to_image != "lettering":
        return await painted_text_submission(
            req.text, req.text_to_image, req.diffusion, engine, dict(req.params), formats, settings
        )
    return await text_submission(req.text, engine, dict(req.params), req.lettering, formats, settings)


async def text_submission(
    text: str,
    engine_name: str,
    params: dict[str, Any],
    lettering: dict[str, Any] | None,
    formats: tuple[str, ...],
    settings: Settings,
) -> Submission:
    if "mode" in get_engine(engine_name).parameters_model.model_fields and "mode" not in params:
        params = {**params, "mode": "extrude"}  # as the pipeline does: text makes a name plate
    engine, checked = _check_engine(engine_name, params, settings)
    options = _lettering(lettering)
    rgba = await run_in_threadpool(render_text, text, options, settings)  # checks length, characters
    png = await run_in_threadpool(encode_png, rgba)
    return Submission(
        engine=engine,
        params=checked,
        formats=formats,
        input_kind="text",
        input_png=png,
        input_format="text",
        input_size=len(text),
        text=text,
        lettering=options.model_dump(mode="json", exclude_defaults=True),
    )


async def painted_text_submission(
    text: str,
    method: str,
    options: dict[str, Any] | None,
    engine_name: str,
    params: dict[str, Any],
    formats: tuple[str, ...],
    settings: Settings,
) -> Submission:
    """Check a text job whose picture a neural step paints (the painting itself is the job's work)."""
    checked_text(text, settings, one_line=True)  # as the step will check the prompt
    engine, checked = _check_engine(engine_name, params, settings)
    try:
        _, step_options = await run_in_threadpool(checked_text_to_image, method, options, settings)
    except InputRejected as exc:  # a parameter of the step: name it as the client sent it
        if exc.field and exc.field != "text_to_image":
            exc.field = f"{method}.{exc.field}"
        raise
    except EngineUnavailable as exc:
        exc.field = "text_to_image"
        raise
    return Submission(
        engine=engine,
        params=checked,
        formats=formats,
        input_kind="text",
        input_png=None,
        input_format="text",
        input_size=len(text),
        text=text,
        text_to_image={"method": method, "options": step_options.model_dump(mode="json")},
    )


def _check_engine(name: str, params: dict[str, Any], settings: Settings) -> tuple[str, dict[str, Any]]:
    """Validate engine and parameters; keep the parameters the client gave, typed."""
    engine = get_engine(name)
    checked = validate_parameters(engine, params).model_dump(mode="json")
    require_available(engine, settings)
    return engine.name, {k: checked[k] for k in params if k in checked}


def _lettering(raw: dict[str, Any] | None) -> LetteringOptions:
    raw = dict(raw or {})
    if "font_path" in raw:
        # A path on the server is not the client's to choose (it would probe the file system).
        raise ApiError(
            422, "invalid_parameter", "font_path cannot be set over the API.", field="lettering.font_path"
        )
    try:
        return LetteringOptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["lettering", *(str(p) for p in first["loc"])])
        raise ApiError(422, "invalid_parameter", f"Field '{field}': {first['msg']}.", field=field) from exc


def _json_object(raw: str | None, field: str) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid_parameter", f"'{field}' is not valid JSON.", field=field) from exc
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_parameter", f"'{field}' must be a JSON object.", field=field)
    return value


def _formats(raw: str | None) -> tuple[str, ...]:
    if raw is None or not raw.strip():
        return FORMATS
    wanted = [f.strip().lower().lstrip(".") for f in raw.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ApiError(
            422,
            "invalid_parameter",
            f"Unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}.",
            field="formats",
        )
    return tuple(dict.fromkeys(wanted))


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def _safe_filename(name: str | None) -> str | None:
    """The upload's base name, printable and short: it is only ever shown, never used as a path."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE.sub("_", base).strip(" .")[:120]
    return base or None
