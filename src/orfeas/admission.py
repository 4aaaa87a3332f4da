"""Checking a job before it exists: :func:`admit` turns a partial :class:`~orfeas.spec.JobSpec`
and its input bytes into a complete spec and a normalised input — or one clear
:class:`~orfeas.errors.InputRejected` / :class:`~orfeas.errors.EngineUnavailable`.

Everything a job will need is checked here, once, before anything is stored: the task, the engine
and its parameters (defaults filled in, the product rules of :mod:`orfeas.spec` applied), the
formats, and the input — a picture decoded (type sniffed from its bytes, byte and pixel caps), a
text typeset, a prompt and its painting step checked, or a mesh file parsed in full under the mesh
caps. A picture may come with a painted mask edit, checked like the picture itself (:func:`picture`)
and against its size. The API, the command line and ``orfeas.generate`` all come through here.

What this server can make is the other half of the contract: :mod:`orfeas.catalog`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from orfeas.engines import get_engine, get_text_to_image
from orfeas.engines.base import require_available, validate_model, validate_parameters
from orfeas.errors import EngineUnavailable, InputRejected, invalid
from orfeas.imaging import (
    DecodedImage,
    LetteringOptions,
    checked_text,
    decode_image,
    encode_grey_png,
    encode_png,
    render_text,
)
from orfeas.imaging.decode import ACCEPTED_FORMATS, image_size
from orfeas.mesh.doctor_options import DoctorParameters
from orfeas.mesh.exchange.untrusted import face_bound, read_model
from orfeas.settings import Settings
from orfeas.spec import DOCTOR, MESH_DEFAULT_FORMATS, MESH_TASKS, TEXT_DEFAULTS, JobSpec, default_formats

if TYPE_CHECKING:
    import numpy as np

#: The stored input of a picture or typeset-text job (the normalised picture).
PICTURE_NAME = "input.png"
#: The picture types an upload may be (sniffed from its bytes).
IMAGE_FORMATS: tuple[str, ...] = tuple(ACCEPTED_FORMATS.values())

__all__ = [
    "IMAGE_FORMATS",
    "PICTURE_NAME",
    "Admitted",
    "admission_cost",
    "admit",
    "checked_spec",
    "picture",
    "picture_cost",
]


@dataclass
class Admitted:
    """A checked job: its complete spec and its input, ready to store or to build."""

    spec: JobSpec
    #: the file the job keeps as its input (``input.png``, ``input.<mesh format>``), or None for a
    #: text still to be painted
    input_name: str | None
    #: what the input was, as sniffed (``png``, ``jpeg``…, ``stl``…) or ``text``: what uploads count as
    input_format: str
    #: bytes received (a file) or characters (a text)
    input_size: int
    #: the picture as 8-bit RGBA (pictures and typeset texts), for building in this process
    rgba: np.ndarray | None = None
    #: a mesh file as sent (mesh tasks)
    mesh: bytes | None = None
    #: the painted mask edit, normalised (:func:`~orfeas.imaging.mask.edit_levels`), when one came
    mask_edit: np.ndarray | None = None
    _png: bytes | None = field(default=None, repr=False)
    _edit_png: bytes | None = field(default=None, repr=False)

    def input_bytes(self) -> bytes | None:
        """What the job stores as its input: the picture as PNG, the mesh file, or None."""
        if self.mesh is not None:
            return self.mesh
        if self.rgba is None:
            return None
        if self._png is None:
            self._png = encode_png(self.rgba)
        return self._png

    def mask_edit_bytes(self) -> bytes | None:
        """What the job stores as its mask edit (a greyscale PNG of three values), or None."""
        if self.mask_edit is None:
            return None
        if self._edit_png is None:
            self._edit_png = encode_grey_png(self.mask_edit)
        return self._edit_png


def admit(
    spec: JobSpec | Mapping[str, Any],
    data: bytes | None,
    settings: Settings,
    *,
    mask_edit: bytes | None = None,
) -> Admitted:
    """Check a job and its input once; return the complete spec and the normalised input.

    ``data`` is the uploaded file: a picture for ``generate``, a mesh file for ``analyze`` and
    ``repair``, nothing for a text. ``mask_edit`` is a painted correction of the picture's subject
    mask (see :func:`~orfeas.imaging.mask.edit_levels`: dark removes, light adds, mid-grey or
    transparent leaves it to the mask source), the picture's size or scaled to it. Raises
    :class:`InputRejected` (a field names the culprit) or :class:`EngineUnavailable`; nothing is
    written either way.
    """
    spec = checked_spec(spec)
    if mask_edit is not None or spec.mask_edit:
        _edit_allowed(spec, data, mask_edit)
    if spec.task in MESH_TASKS:
        return _admit_mesh(spec, data, settings)
    if spec.task == "paint":
        return _admit_painting(spec, data, settings)
    if data is not None and spec.text is not None:
        raise InputRejected("Send an image or a text, not both.", code="invalid_parameter", field="text")
    if data is None and spec.text is None:
        raise InputRejected("Send an image file (field 'image') or a text.", code="empty", field="image")

    # The engine and its parameters first: a bad parameter is refused before any decoding.
    engine = get_engine(spec.engine or settings.default_engine)
    raw = dict(spec.params)
    if spec.typeset:
        raw = {**TEXT_DEFAULTS.get(engine.name, {}), **raw}
    params = validate_parameters(engine, raw).model_dump(mode="json")
    require_available(engine, settings)
    filled = {"engine": engine.name, "params": params, "formats": spec.formats or default_formats(params)}

    if spec.painted:
        text = checked_text(spec.text or "", settings, one_line=True)  # as the step checks its prompt
        options = _painting_options(spec, settings)
        done = spec.model_copy(update={**filled, "text": text, "diffusion": options, "lettering": None})
        return Admitted(done, input_name=None, input_format="text", input_size=len(text))
    if spec.text is not None:
        text = checked_text(spec.text, settings)
        lettering = _lettering(spec.lettering)
        # refused here, not in the engine, when the strokes would be too thin to print or survive
        rgba = render_text(
            text,
            lettering,
            settings,
            size_mm=params.get("size_mm"),
            working_side=getattr(engine, "working_side", None),
        )
        done = spec.model_copy(
            update={**filled, "text": text, "lettering": lettering.model_dump(mode="json"), "diffusion": None}
        )
        return Admitted(done, input_name=PICTURE_NAME, input_format="text", input_size=len(text), rgba=rgba)
    assert data is not None
    decoded = picture(data, settings)
    edit = _mask_edit(mask_edit, decoded, settings) if mask_edit is not None else None
    done = spec.model_copy(
        update={**filled, "lettering": None, "diffusion": None, "mask_edit": edit is not None}
    )
    return Admitted(
        done,
        input_name=PICTURE_NAME,
        input_format=decoded.format,
        input_size=len(data),
        rgba=decoded.rgba,
        mask_edit=edit,
    )


def picture(data: bytes, settings: Settings, *, field: str | None = None) -> DecodedImage:
    """An uploaded picture checked and decoded: type sniffed from its bytes, the byte and pixel caps
    (from the header, before decoding), EXIF orientation applied. Every picture a client sends comes
    through here: a job's, its mask edit (``field="mask_edit"``), one to find the mask of."""
    try:
        return decode_image(data, settings)
    except InputRejected as exc:
        exc.field = exc.field or field
        raise


def _edit_allowed(spec: JobSpec, data: bytes | None, mask_edit: bytes | None) -> None:
    """A mask edit goes with a picture to build, sent as a file (never only claimed in the spec)."""
    if mask_edit is None:
        raise InputRejected(
            "mask_edit is set when the edit itself comes as a file (the multipart field 'mask_edit').",
            code="invalid_parameter",
            field="mask_edit",
        )
    if spec.task != "generate" or spec.text is not None or data is None:
        raise InputRejected(
            "A mask edit corrects the subject of a picture: send it with an image, not with a text "
            "or a mesh.",
            code="invalid_parameter",
            field="mask_edit",
        )


def _mask_edit(data: bytes, image: DecodedImage, settings: Settings) -> np.ndarray:
    """The edit checked like the picture, then against it: the same proportions (the picture's size,
    or scaled to it within a pixel); returned in its canonical three-value form."""
    from orfeas.imaging.mask import edit_levels  # OpenCV: loaded by the first edit, not at start-up

    edit = picture(data, settings, field="mask_edit")
    if not _same_proportions((edit.width, edit.height), (image.width, image.height)):
        raise InputRejected(
            f"The mask edit is {edit.width} × {edit.height} pixels but the picture is {image.width} × "
            f"{image.height}: paint the edit over the picture at its size (or scaled to it).",
            code="invalid_parameter",
            field="mask_edit",
        )
    return edit_levels(edit.rgba)


def _same_proportions(edit: tuple[int, int], image: tuple[int, int]) -> bool:
    """Whether an ``edit`` (w, h) is ``image`` scaled by one factor, each side within a pixel."""
    (ew, eh), (iw, ih) = edit, image
    return abs(round(iw * eh / ih) - ew) <= 1 and abs(round(ih * ew / iw) - eh) <= 1


def checked_spec(spec: JobSpec | Mapping[str, Any]) -> JobSpec:
    """``spec`` as a :class:`JobSpec`, its shape checked (unknown fields, bad formats…)."""
    if isinstance(spec, JobSpec):
        return spec
    try:
        return JobSpec.model_validate(dict(spec) if isinstance(spec, Mapping) else spec)
    except ValidationError as exc:
        raise invalid(exc) from exc


def _admit_mesh(spec: JobSpec, data: bytes | None, settings: Settings) -> Admitted:
    """A mesh job: the task's options, then the file (sniffed, capped, parsed in full)."""
    if spec.text is not None:
        raise InputRejected("Send a mesh or a text, not both.", code="invalid_parameter", field="text")
    if data is None:
        raise InputRejected(
            f"task '{spec.task}' needs a mesh file in the field 'model'.",
            code="invalid_parameter",
            field="task",
        )
    params = validate_model(DoctorParameters, dict(spec.params)).model_dump(mode="json")
    try:
        _, facts = read_model(data, max_bytes=settings.max_model_bytes, max_faces=settings.max_model_faces)
    except InputRejected as exc:
        exc.field = exc.field or "model"
        raise
    fmt = str(facts["format"])
    done = spec.model_copy(
        update={
            "engine": DOCTOR,
            "params": params,
            "formats": spec.formats or MESH_DEFAULT_FORMATS[spec.task],
            "lettering": None,
            "diffusion": None,
        }
    )
    return Admitted(done, input_name=f"input.{fmt}", input_format=fmt, input_size=len(data), mesh=data)


def _admit_painting(spec: JobSpec, data: bytes | None, settings: Settings) -> Admitted:
    """A text painted into a picture, nothing more (the picture is the job's one file)."""
    if data is not None or spec.text is None or not spec.painted:
        raise InputRejected(
            "task 'paint' takes a text and a neural text_to_image step, no file.",
            code="invalid_parameter",
            field="task",
        )
    text = checked_text(spec.text, settings, one_line=True)
    options = _painting_options(spec, settings)
    done = spec.model_copy(
        update={"engine": None, "params": {}, "formats": None, "text": text, "diffusion": options}
    )
    return Admitted(done, input_name=None, input_format="text", input_size=len(text))


def _painting_options(spec: JobSpec, settings: Settings) -> dict[str, Any]:
    """The painting step's options, checked, and the step confirmed able to run here."""
    step = get_text_to_image(spec.text_to_image)
    try:
        options = validate_parameters(step, dict(spec.diffusion or {}))
    except InputRejected as exc:  # name it where the client put it: diffusion.steps
        exc.field = f"diffusion.{exc.field}" if exc.field else "diffusion"
        raise
    try:
        require_available(step, settings)
    except EngineUnavailable as exc:
        exc.field = "text_to_image"
        raise
    return options.model_dump(mode="json")


def _lettering(raw: Mapping[str, Any] | None) -> LetteringOptions:
    try:
        return LetteringOptions.model_validate(dict(raw or {}))
    except ValidationError as exc:
        raise invalid(exc, prefix="lettering") from exc


# --- what a check costs -----------------------------------------------------------------------

#: Peak bytes a decode takes per pixel: the RGBA output (4) plus what the decoder holds besides
#: (measured: 0 for RGB/RGBA PNG, JPEG and TIFF, 1 for palette pictures, 3 for a progressive JPEG
#: or a WebP) and the PNG re-encode of the normalised input.
BYTES_PER_PIXEL = 8
#: Peak bytes a mesh reader takes per triangle (measured: OBJ 37, 3MF 92, binary STL and PLY 103,
#: ASCII PLY 146, GLB 172 through trimesh).
BYTES_PER_FACE = 200
#: What any check costs besides (parsers, buffers, the upload itself is already held).
FIXED_BYTES = 4 << 20


def image_cost(width: int, height: int) -> int:
    """Bytes decoding a ``width`` × ``height`` picture may take at its peak."""
    return FIXED_BYTES + BYTES_PER_PIXEL * max(0, width) * max(0, height)


def mesh_cost(faces: int) -> int:
    """Bytes reading a mesh of ``faces`` triangles may take at its peak."""
    return FIXED_BYTES + BYTES_PER_FACE * max(0, faces)


def admission_cost(
    spec: JobSpec | Mapping[str, Any],
    data: bytes | None,
    settings: Settings,
    *,
    mask_edit: bytes | None = None,
) -> int:
    """Bytes :func:`admit` may take at its peak for ``spec`` and ``data`` (and a mask edit), priced
    from the files' headers or a cheap bound, before any decoding (an API lets only so many checks
    run at once). A file that is hostile already in its header is refused here."""
    spec = checked_spec(spec)  # a malformed spec is refused as such, before any file is looked at
    edit = picture_cost(mask_edit, settings, field="mask_edit") - FIXED_BYTES if mask_edit else 0
    if data is None:
        return FIXED_BYTES + edit  # a text: typesetting is bounded by the text's length
    if spec.task in MESH_TASKS:
        try:
            return mesh_cost(face_bound(data, settings.max_model_faces))
        except InputRejected as exc:
            exc.field = exc.field or "model"
            raise
    return picture_cost(data, settings) + edit


def picture_cost(data: bytes, settings: Settings, *, field: str | None = None) -> int:
    """Bytes :func:`picture` may take decoding ``data``, from its header (the caps checked there)."""
    try:
        _, width, height = image_size(data, settings)
    except InputRejected as exc:
        exc.field = exc.field or field
        raise
    return image_cost(width, height)
