"""The whole generation path, top to bottom: input → engine → mesh post-processing → report.

Read :func:`build` first: a checked :class:`~orfeas.spec.JobSpec` and its picture become a
verified model. :func:`run` is what a worker calls with a job's spec and stored input;
:func:`generate` and :func:`mend` are the Python API (``orfeas.generate``, ``orfeas.mend``): they
admit their arguments (:func:`orfeas.admission.admit`) and run them in this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh

from orfeas.admission import admit, checked_spec
from orfeas.engines import get_engine, get_text_to_image
from orfeas.engines.base import EngineInput, ProgressCallback, no_progress, validate_model
from orfeas.errors import GpuOutOfMemory
from orfeas.files import write_atomic
from orfeas.imaging import LetteringOptions, decode_grey_png, decode_png, encode_png, render_text
from orfeas.mesh import exchange
from orfeas.mesh.doctor import RepairOptions, analyze, repair
from orfeas.mesh.doctor_options import UNITS_TO_MM, DoctorParameters
from orfeas.mesh.exchange.untrusted import read_model
from orfeas.mesh.fidelity import faithful
from orfeas.mesh.formats import CONTENT_TYPES
from orfeas.mesh.parts import Part, check_parts, filament_assumption, parts_report, transformed
from orfeas.mesh.repair import clean_mesh, place_on_bed, scale_to_size, simplify_to
from orfeas.mesh.report import printability_report
from orfeas.mesh.texture import PlanarTexture
from orfeas.mesh.verify import verify
from orfeas.settings import Settings, get_settings
from orfeas.spec import MESH_TASKS, JobSpec

#: The stages a generation passes through, in order; progress callbacks receive these names.
STAGES = ("decode", "mask", "height", "mesh", "simplify", "verify", "export")

#: One file a job writes: (name, format, bytes, content type).
File = tuple[str, str, bytes, str]


@dataclass
class Model:
    """A finished, verified model in millimetres, with its printability report; a colour print
    also has its ``parts`` (one per colour, in extruder order), whose union ``mesh`` is."""

    mesh: trimesh.Trimesh
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    source_rgba: np.ndarray | None = None
    texture: PlanarTexture | None = None
    parts: list[Part] | None = None

    def export(self, fmt: str) -> bytes:
        """The model as file bytes in ``fmt`` (one of :data:`orfeas.mesh.formats.OUTPUT_FORMATS`)."""
        return exchange.export(self.mesh, fmt, texture=self.texture, parts=self.parts)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the model to ``path`` atomically; the format comes from the extension unless given."""
        path = Path(path)
        fmt = fmt or exchange.format_from_path(path)
        write_atomic(path, self.export(fmt))
        return path

    def files(self, formats: tuple[str, ...]) -> Iterator[File]:
        """The job's files: ``model.<format>`` for each format asked for."""
        for fmt in formats:
            yield f"model.{fmt}", fmt, self.export(fmt), CONTENT_TYPES[fmt]


@dataclass
class Painting:
    """A picture painted from a text (task ``paint``), with what the painting step says of it."""

    rgba: np.ndarray
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def files(self, formats: tuple[str, ...] = ()) -> Iterator[File]:
        yield "picture.png", "png", encode_png(self.rgba), "image/png"


def generate(
    image: bytes | str | Path | None = None,
    *,
    text: str | None = None,
    engine: str | None = None,
    params: dict[str, Any] | None = None,
    lettering: dict[str, Any] | None = None,
    text_to_image: str = "lettering",
    diffusion: dict[str, Any] | None = None,
    mask_edit: bytes | str | Path | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
) -> Model:
    """Turn an image (bytes or a path) or a line of text into a verified, print-ready model.

    ``params`` are the engine's parameters (see ``orfeas engines``). ``mask_edit`` (bytes or a path)
    is a painted correction of the picture's subject mask, the picture's size or scaled to it:
    black removes, white adds, mid-grey or transparent leaves the mask source's answer. Text is typeset
    (``text_to_image="lettering"``, options in ``lettering``: font, outline, border) or painted by
    a local diffusion model (``"diffusion"``, options in ``diffusion``); the picture is then built
    by the engine and kept in :attr:`Model.source_rgba`. Raises
    :class:`orfeas.errors.InputRejected` for unusable input, :class:`~orfeas.errors.EngineUnavailable`,
    :class:`~orfeas.errors.GpuOutOfMemory` (unless ``settings.gpu_oom_fallback`` builds it with
    relief instead), or :class:`~orfeas.errors.MeshInvalid`.
    """
    settings = settings or get_settings()
    spec = checked_spec(
        {
            "engine": engine,
            "params": params or {},
            "text": text,
            "lettering": lettering,
            "text_to_image": text_to_image,
            "diffusion": diffusion,
        }
    )
    data = Path(image).read_bytes() if isinstance(image, str | Path) else image
    edit = Path(mask_edit).read_bytes() if isinstance(mask_edit, str | Path) else mask_edit
    admitted = admit(spec, data, settings, mask_edit=edit)
    return build(admitted.spec, admitted.rgba, progress, settings, mask_edit=admitted.mask_edit)


def mend(
    model: bytes | str | Path,
    *,
    task: Literal["analyze", "repair"] = "repair",
    params: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
) -> Model:
    """Analyse or repair a mesh brought from elsewhere (STL, OBJ, PLY, GLB, 3MF; bytes or a path).

    ``analyze`` returns the mesh as it is (in millimetres) with its printability report;
    ``repair`` makes it printable (see :func:`orfeas.mesh.doctor.repair`, options in ``params``:
    :class:`~orfeas.mesh.doctor.DoctorParameters`) and lists every change in ``report["changes"]``.
    Raises :class:`InputRejected` for a file that is not a mesh, is hostile or over the caps, and
    :class:`~orfeas.errors.MeshInvalid` when the mesh cannot be made printable.
    """
    settings = settings or get_settings()
    data = Path(model).read_bytes() if isinstance(model, str | Path) else model
    admitted = admit(checked_spec({"task": task, "params": params or {}}), data, settings)
    return mend_mesh(admitted.spec, data, progress, settings)


def run(
    spec: JobSpec,
    source: bytes | None,
    progress: ProgressCallback,
    settings: Settings,
    *,
    mask_edit: bytes | None = None,
) -> Model | Painting:
    """A job: its admitted ``spec`` and stored input (picture PNG, mesh file, or None for a text
    still to be painted; the stored mask edit when the spec has one) → the model (or, for
    ``paint``, the picture)."""
    if spec.task in MESH_TASKS:
        assert source is not None
        return mend_mesh(spec, source, progress, settings)
    if spec.task == "paint":
        return paint(spec, progress, settings)
    progress("decode", 0.0)
    if source is not None:
        rgba = decode_png(source)
    elif spec.typeset:  # a text job made without admission's stored picture: set it now
        rgba = render_text(spec.text or "", LetteringOptions.model_validate(spec.lettering or {}), settings)
    else:
        rgba = None  # painted in build()
    edit = decode_grey_png(mask_edit) if mask_edit is not None else None
    return build(spec, rgba, progress, settings, mask_edit=edit)


def build(
    spec: JobSpec,
    rgba: np.ndarray | None,
    progress: ProgressCallback,
    settings: Settings,
    *,
    mask_edit: np.ndarray | None = None,
) -> Model:
    """The generation itself: a picture (or a text to paint first) → a verified model in mm.
    ``mask_edit`` is the admitted painted edit of the subject mask, which the engine applies last."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + (now - clock)
        clock = now

    # 1. The picture: given (a decoded upload, a typeset text), or painted from the text now.
    chosen = get_engine(spec.engine or settings.default_engine)
    params = validate_model(chosen.parameters_model, spec.params)  # admitted already; cheap, and clear if not
    progress("decode", 0.0)
    input_notes: dict[str, Any] = {}
    if rgba is None:
        painting = paint(spec, progress, settings)
        rgba, input_notes["text_to_image"] = painting.rgba, painting.report
    lap("decode")

    # 2. The engine builds a closed mesh (its own stages: mask, height, mesh).
    source = EngineInput(rgba=rgba, source="text" if spec.typeset else "image", mask_edit=mask_edit)
    try:
        output = chosen.generate(source, params, settings, progress)
    except GpuOutOfMemory as exc:
        if not settings.gpu_oom_fallback or chosen.name == "relief":
            raise
        chosen, params, output = _relief_instead(exc, chosen.name, params, source, settings, progress)
    timings.update(output.timings)
    clock = time.perf_counter()

    # 3. One post-processing path for every engine: clean → scale → simplify → verify → fidelity.
    # A colour print's parts (closed solids from manifold3d, in mm, to their budget) move with the
    # mesh; merging their vertices by position would pinch them where two colours meet at a point.
    progress("simplify", 0.0)
    mesh = clean_mesh(output.mesh)
    built = mesh.bounds.copy()
    if output.units == "model":
        mesh = scale_to_size(mesh, float(getattr(params, "size_mm", 100.0)))
    if (output.units == "model" or output.intent is None) and not output.parts:  # parts meet their budget
        mesh = simplify_to(mesh, int(getattr(params, "target_faces", 50_000)))
    corner = mesh.bounds[0].copy()
    mesh = place_on_bed(mesh)
    intent = output.intent.moved(mesh.bounds[0] - corner) if output.intent is not None else None
    parts = None
    if output.parts:  # the same scale and move for every part
        scale = float(np.max(mesh.extents) / max(np.max(built[1] - built[0]), 1e-12))
        parts = transformed(output.parts, scale, mesh.bounds[0] - built[0] * scale)
    lap("simplify")

    progress("verify", 0.0)
    verification = verify(mesh)  # raises MeshInvalid: a failing mesh is never returned
    if parts:
        check_parts(parts, mesh)  # each part closed, together filling the mesh exactly
    fidelity = faithful(mesh, intent, settings) if intent is not None else None  # raises MeshInvalid too
    report = printability_report(mesh, verification, fidelity)
    if parts:
        report["colours"] = {
            "count": len(parts),
            "parts": parts_report(parts),
            "filament_assumption": filament_assumption(),
        }
    report["engine"] = {"name": chosen.name, "version": chosen.version, **output.notes}
    report["parameters"] = params.model_dump(mode="json")
    report.update(input_notes)
    lap("verify")
    progress("export", 0.0)
    texture = intent.texture if intent is not None else None
    return Model(mesh=mesh, report=report, timings=timings, source_rgba=rgba, texture=texture, parts=parts)


def paint(spec: JobSpec, progress: ProgressCallback, settings: Settings) -> Painting:
    """The picture a neural step paints from ``spec.text`` (options in ``spec.diffusion``)."""
    started = time.perf_counter()
    step = get_text_to_image(spec.text_to_image)
    options = validate_model(step.parameters_model, spec.diffusion or {})
    picture = step.paint(spec.text or "", options, settings, progress)
    return Painting(picture.rgba, picture.notes, {"decode": time.perf_counter() - started})


def mend_mesh(spec: JobSpec, data: bytes, progress: ProgressCallback, settings: Settings) -> Model:
    """A mesh job: read with the caps → analyse as it is, or repair → verify → report."""
    checked = validate_model(DoctorParameters, spec.params)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    # 1. Read with the caps: a file that lies about its size is refused before it is parsed.
    progress("decode", 0.0)
    mesh, facts = read_model(data, max_bytes=settings.max_model_bytes, max_faces=settings.max_model_faces)
    units_to_mm = UNITS_TO_MM[checked.units] if checked.units else float(facts["scale_to_mm"])  # type: ignore[arg-type]
    timings["decode"] = time.perf_counter() - clock

    # 2. Analyse as it is, or repair → verify (repair raises MeshInvalid rather than lose volume).
    clock = time.perf_counter()
    if spec.task == "analyze":
        progress("verify", 0.0)
        mesh.merge_vertices()
        if units_to_mm != 1.0:
            mesh.apply_scale(units_to_mm)
        report, changes = analyze(mesh), []
        timings["verify"] = time.perf_counter() - clock
    else:
        progress("mesh", 0.0)
        options = RepairOptions(units_to_mm=units_to_mm, **checked.model_dump(exclude={"units"}))
        result = repair(mesh, options)
        mesh, report, changes = result.mesh, result.report, result.changes
        timings["mesh"] = time.perf_counter() - clock
    report["input"] = {"format": facts.get("format"), "units_to_mm": units_to_mm}
    report["task"] = spec.task
    report["changes"] = changes
    report["parameters"] = checked.model_dump(mode="json")
    progress("export", 0.0)
    return Model(mesh=mesh, report=report, timings=timings)


def _relief_instead(
    exc: GpuOutOfMemory,
    failed: str,
    checked: Any,
    source: EngineInput,
    settings: Settings,
    progress: ProgressCallback,
) -> tuple[Any, Any, Any]:
    """Build with ``relief`` after a neural engine ran out of GPU memory (``gpu_oom_fallback``)."""
    relief = get_engine("relief")
    carried = {k: getattr(checked, k) for k in ("size_mm", "target_faces") if hasattr(checked, k)}
    params = validate_model(relief.parameters_model, carried)
    output = relief.generate(source, params, settings, progress)
    output.notes["fallback"] = {"from": failed, "reason": exc.code, "message": exc.message}
    return relief, params, output
