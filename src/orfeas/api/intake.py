"""``POST /api/v1/jobs`` and ``POST /api/v1/mask`` as HTTP: a multipart form or a JSON body → a
:class:`Submission` (or a picture and a mask source).

This module only reads HTTP — which fields, which file, how lists and JSON are spelled in a form.
What the submission asks for is checked once, by the job service's admission
(:meth:`orfeas.jobs.service.JobService.submit`), like every other way a job is made.

Multipart: a file in ``image`` (a picture) or ``model`` (a mesh, with ``task=analyze|repair``), or
a ``text``; with an image, a painted correction of its mask in ``mask_edit`` (a PNG: black removes,
white adds, mid-grey or transparent leaves it); ``engine``, ``params`` (a JSON object),
``lettering``/``diffusion`` (JSON objects), ``text_to_image``, ``formats`` (comma-separated); any
other field is an engine parameter of its own. JSON: a :class:`~orfeas.spec.JobSpec` (a text job).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from orfeas.api.bodies import content_type, json_object, read_form, read_json
from orfeas.api.errors import ApiError
from orfeas.jobs import OUTPUT_FORMATS
from orfeas.settings import Settings

#: Room for multipart boundaries and the small form fields on top of the file itself.
FORM_OVERHEAD = 256 * 1024

#: Form fields that describe the job (anything else is an engine parameter).
_FORM_FIELDS = frozenset(
    {
        "image",
        "model",
        "mask_edit",
        "task",
        "text",
        "engine",
        "params",
        "lettering",
        "formats",
        "text_to_image",
        "diffusion",
    }
)
#: The file fields a submission may carry: a picture to build from (and a painted edit of its mask),
#: or a mesh to analyse or repair.
_FILE_FIELDS = frozenset({"image", "model", "mask_edit"})
#: The inputs of which a submission takes one.
_INPUT_FILES = ("image", "model")
#: The fields of ``POST /api/v1/mask``: a picture and where its mask should come from.
_MASK_FIELDS = frozenset({"mask"})
#: What a mesh upload does when the form does not say.
_MESH_TASK = "analyze"


@dataclass(frozen=True)
class Submission:
    """A request as read from HTTP: the job it describes (a partial JobSpec), its file, if any."""

    spec: dict[str, Any]
    data: bytes | None = None
    filename: str | None = None
    #: a painted correction of the picture's subject mask (the form's ``mask_edit`` file)
    mask_edit: bytes | None = None


def body_limit(settings: Settings) -> int:
    """The largest request body accepted: a picture and its mask edit, or a mesh, plus the form."""
    return max(2 * settings.max_upload_bytes, settings.max_model_bytes) + FORM_OVERHEAD


async def read_submission(request: Request, settings: Settings) -> Submission:
    """The submission in a multipart or JSON request (415 for any other body)."""
    kind = content_type(request)
    if kind == "multipart/form-data":
        return await _from_form(request, settings)
    if kind == "application/json":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_parameter", "The body must be a JSON object (a job).")
        refuse_server_paths(body.get("lettering"))
        return Submission(body)
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send multipart/form-data (an image file) or application/json (a text job).",
        field="content-type",
    )


async def _from_form(request: Request, settings: Settings) -> Submission:
    caps = {"image": settings.max_upload_bytes, "mask_edit": settings.max_upload_bytes}
    caps["model"] = settings.max_model_bytes
    form = await read_form(request, body_limit(settings), file_caps=caps, max_files=len(_INPUT_FILES) + 1)
    try:
        fields, files = _parts(form, _FILE_FIELDS)
        inputs = [key for key in _INPUT_FILES if key in files]
        if len(inputs) > 1:
            raise ApiError(422, "invalid_parameter", "Send one file per submission.", field=inputs[-1])
        upload_field = inputs[0] if inputs else "image"
        upload = files.get(upload_field)
        data = await upload.read() if upload is not None else None  # bounded: the stream stopped at the limit
        edit = await files["mask_edit"].read() if "mask_edit" in files else None
        mesh = upload_field == "model" and upload is not None
        task = fields.get("task", _MESH_TASK if mesh else "generate")
        if not mesh and task != "generate":
            raise ApiError(
                422,
                "invalid_parameter",
                f"task '{task}' needs a mesh file in the field 'model'.",
                field="task",
            )
        if mesh and task == "generate":
            raise ApiError(422, "invalid_parameter", "task must be one of analyze, repair.", field="task")
        params = json_object(fields.get("params"), "params")
        params.update({k: v for k, v in fields.items() if k not in _FORM_FIELDS})  # a parameter per field
        spec: dict[str, Any] = {"task": task, "params": params}
        for key in ("engine", "text", "text_to_image"):
            if fields.get(key):
                spec[key] = fields[key]
        if "text" in fields and not fields["text"]:
            spec["text"] = ""  # an empty text is refused as such, not taken for no text
        for key in ("lettering", "diffusion"):
            if key in fields:
                spec[key] = json_object(fields[key], key)
        refuse_server_paths(spec.get("lettering"))
        if fields.get("formats", "").strip():
            spec["formats"] = _formats(fields["formats"])
        filename = safe_filename(upload.filename) if upload is not None else None
        return Submission(spec, data, filename, mask_edit=edit)
    finally:
        await form.close()


async def read_mask_request(request: Request, settings: Settings) -> tuple[bytes, str]:
    """``POST /api/v1/mask``: the picture (``image``, under the picture cap) and the mask source
    (``mask``, default ``auto``), read like a job's form (415 for another body, 413 past a cap)."""
    if content_type(request) != "multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send multipart/form-data: the picture in the field 'image'.",
            field="content-type",
        )
    caps = {"image": settings.max_upload_bytes}
    form = await read_form(request, settings.max_upload_bytes + FORM_OVERHEAD, file_caps=caps, max_fields=8)
    try:
        fields, files = _parts(form, frozenset({"image"}))
        for key in fields.keys() - _MASK_FIELDS:
            raise ApiError(422, "invalid_parameter", f"Unexpected field '{key}'.", field=key)
        if "image" not in files:
            raise ApiError(422, "empty", "Send the picture as a file in the field 'image'.", field="image")
        return await files["image"].read(), fields.get("mask", "").strip() or "auto"
    finally:
        await form.close()


def _parts(form: FormData, file_fields: frozenset[str]) -> tuple[dict[str, str], dict[str, UploadFile]]:
    """A form's text fields and files, each named once, files only in ``file_fields``."""
    fields: dict[str, str] = {}
    files: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key not in file_fields:
                raise ApiError(422, "invalid_parameter", f"Unexpected file field '{key}'.", field=key)
            if key in files:
                raise ApiError(422, "invalid_parameter", f"Send one file in the field '{key}'.", field=key)
            files[key] = value
        elif key in fields:
            raise ApiError(422, "invalid_parameter", f"Field '{key}' is given twice.", field=key)
        else:
            fields[key] = value
    for key in file_fields & fields.keys():
        raise ApiError(422, "invalid_parameter", f"'{key}' must be a file upload.", field=key)
    return fields, files


def refuse_server_paths(lettering: Any) -> None:
    """A font file on the server is not the client's to choose (it would probe the file system)."""
    if isinstance(lettering, dict) and "font_path" in lettering:
        raise ApiError(
            422, "invalid_parameter", "font_path cannot be set over the API.", field="lettering.font_path"
        )


def _formats(raw: str) -> tuple[str, ...]:
    wanted = [f.strip().lower().lstrip(".") for f in raw.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in OUTPUT_FORMATS]
    if unknown or not wanted:
        raise ApiError(
            422,
            "invalid_parameter",
            f"Unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(OUTPUT_FORMATS)}.",
            field="formats",
        )
    return tuple(dict.fromkeys(wanted))


_UNSAFE = re.compile(r"[^\w.\- ()]+")


def safe_filename(name: str | None) -> str | None:
    """The upload's base name, printable and short: it is only ever shown, never used as a path."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE.sub("_", base).strip(" .")[:120]
    return base or None
