"""The whole generation path, top to bottom: input → engine → mesh post-processing → report.

Read :func:`generate` first; every other module in ``orfeas`` serves one of its steps.
:func:`mend` is its sibling for meshes brought from elsewhere: read → repair → verify → report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import trimesh
from pydantic import BaseModel

from orfeas.engines import get_engine, text_to_image_engines
from orfeas.engines.base import (
    EngineInput,
    ProgressCallback,
    no_progress,
    require_available,
    validate_model,
    validate_parameters,
)
from orfeas.errors import GpuOutOfMemory, InputRejected
from orfeas.files import write_atomic
from orfeas.imaging import decode_image, render_text
from orfeas.imaging.lettering import LetteringOptions
from orfeas.mesh import exchange
from orfeas.mesh.doctor import UNITS_TO_MM, DoctorParameters, RepairOptions, analyze, repair
from orfeas.mesh.exchange.untrusted import read_model
from orfeas.mesh.fidelity import faithful
from orfeas.mesh.repair import clean_mesh, place_on_bed, scale_to_size, simplify_to
from orfeas.mesh.report import printability_report
from orfeas.mesh.texture import PlanarTexture
from orfeas.mesh.verify import verify
from orfeas.settings import Settings, get_settings

#: The stages a generation passes through, in order; progress callbacks receive these names.
STAGES = ("decode", "mask", "height", "mesh", "simplify", "verify", "export")


@dataclass
class Model:
    """A finished, verified model in millimetres, with its printability report."""

    mesh: trimesh.Trimesh
    report: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    source_rgba: np.ndarray | None = None
    texture: PlanarTexture | None = None

    def export(self, fmt: str) -> bytes:
        """The model as file bytes in ``fmt`` (one of :data:`orfeas.mesh.exchange.FORMATS`)."""
        return exchange.export(self.mesh, fmt, texture=self.texture)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the model to ``path`` atomically; the format comes from the extension unless given."""
        path = Path(path)
        fmt = fmt or exchange.format_from_path(path)
        write_atomic(path, self.export(fmt))
        return path


def generate(
    image: bytes | str | Path | None = None,
    *,
    text: str | None = None,
    engine: str | None = None,
    params: dict[str, Any] | None = None,
    lettering: dict[str, Any] | None = None,
    text_to_image: str = "lettering",
    diffusion: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
) -> Model:
    """Turn an image (bytes or a path) or a line of text into a verified, print-ready model.

    ``params`` are the engine's parameters (see ``orfeas engines``). Text is typeset
    (``text_to_image="lettering"``, options in ``lettering``: font, outline, border) or painted by
    a local diffusion model (``"diffusion"``, options in ``diffusion``); the picture is then built
    by the engine and kept in :attr:`Model.source_rgba`. Raises
    :class:`orfeas.errors.InputRejected` for unusable input, :class:`~orfeas.errors.EngineUnavailable`,
    :class:`~orfeas.errors.GpuOutOfMemory` (unless ``settings.gpu_oom_fallback`` builds it with
    relief instead), or :class:`~orfeas.errors.MeshInvalid`.
    """
    settings = settings or get_settings()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + (now - clock)
        clock = now

    # 1. The engine and its parameters are checked before any work is done.
    chosen = get_engine(engine or settings.default_engine)
    raw_params = dict(params or {})
    typeset = text is not None and text_to_image == "lettering"
    if typeset and "mode" in chosen.parameters_model.model_fields and "mode" not in raw_params:
        raw_params["mode"] = "extrude"  # typeset text makes a name plate unless asked otherwise
    checked = validate_parameters(chosen, raw_params)
    require_available(chosen, settings)
    painted = text is not None and not typeset
    paint = text_to_image_step(text_to_image, diffusion, settings) if painted else None

    # 2. Input → 8-bit RGBA.
    progress("decode", 0.0)
    input_notes: dict[str, Any] = {}
    if paint is not None:
        picture = paint(text, settings=settings, progress=progress)
        rgba, input_notes["text_to_image"] = picture.rgba, picture.notes
    elif text is not None:
        rgba = render_text(text, LetteringOptions.model_validate(lettering or {}), settings=settings)
    else:
        if image is None:
            raise InputRejected("Give an image or a text.", code="empty")
        data = Path(image).read_bytes() if isinstance(image, str | Path) else image
        rgba = decode_image(data, settings=settings).rgba
    lap("decode")

    # 3. The engine builds a closed mesh (its own stages: mask, height, mesh).
    source = EngineInput(rgba=rgba, source="text" if typeset else "image")
    try:
        output = chosen.generate(source, checked, settings, progress)
    except GpuOutOfMemory as exc:
        if not settings.gpu_oom_fallback or chosen.name == "relief":
            raise
        chosen, checked, output = _relief_instead(exc, chosen.name, checked, source, settings, progress)
    timings.update(output.timings)
    clock = time.perf_counter()

    # 4. One post-processing path for every engine: clean → scale → simplify → verify.
    progress("simplify", 0.0)
    mesh = clean_mesh(output.mesh)
    if output.units == "model":
        mesh = scale_to_size(mesh, float(getattr(checked, "size_mm", 100.0)))
    if output.units == "model" or output.intent is None:  # an engine building in mm meets its own budget
        mesh = simplify_to(mesh, int(getattr(checked, "target_faces", 50_000)))
    corner = mesh.bounds[0].copy()
    mesh = place_on_bed(mesh)
    intent = output.intent.moved(mesh.bounds[0] - corner) if output.intent is not None else None
    lap("simplify")

    progress("verify", 0.0)
    verification = verify(mesh)  # raises MeshInvalid: a failing mesh is never returned
    fidelity = faithful(mesh, intent, settings) if intent is not None else None  # raises MeshInvalid too
    report = printability_report(mesh, verification, fidelity)
    report["engine"] = {"name": chosen.name, "version": chosen.version, **output.notes}
    report["parameters"] = checked.model_dump(mode="json")
    report.update(input_notes)
    lap("verify")
    progress("export", 0.0)
    texture = intent.texture if intent is not None else None
    return Model(mesh=mesh, report=report, timings=timings, source_rgba=rgba, texture=texture)


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
    checked = validate_model(DoctorParameters, dict(params or {}))
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    # 1. Read with the caps: a file that lies about its size is refused before it is parsed.
    progress("decode", 0.0)
    data = Path(model).read_bytes() if isinstance(model, str | Path) else model
    mesh, facts = read_model(data, max_bytes=settings.max_model_bytes, max_faces=settings.max_model_faces)
    units_to_mm = UNITS_TO_MM[checked.units] if checked.units else float(facts["scale_to_mm"])  # type: ignore[arg-type]
    timings["decode"] = time.perf_counter() - clock

    # 2. Analyse as it is, or repair → verify (repair raises MeshInvalid rather than lose volume).
    clock = time.perf_counter()
    if task == "analyze":
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
    report["task"] = task
    report["changes"] = changes
    report["parameters"] = checked.model_dump(mode="json")
    progress("export", 0.0)
    return Model(mesh=mesh, report=report, timings=timings)


def text_to_image_step(method: str, options: dict[str, Any] | None, settings: Settings) -> Callable[..., Any]:
    """The neural text → picture step ``method`` with its checked options, ready to paint."""
    step, checked = checked_text_to_image(method, options, settings)
    return partial(step.paint, params=checked)


def checked_text_to_image(
    method: str, options: dict[str, Any] | None, settings: Settings
) -> tuple[Any, BaseModel]:
    """The neural text → picture step ``method`` and its options, checked; raises
    :class:`InputRejected` (unknown step, bad option) or ``EngineUnavailable`` (cannot run here)."""
    steps = {step.name: step for step in text_to_image_engines()}
    if method not in steps:
        known = ", ".join(["lettering", *steps])
        raise InputRejected(
            f"Unknown text_to_image '{method}'. Known: {known}.",
            code="invalid_parameter",
            field="text_to_image",
        )
    step = steps[method]
    checked = validate_parameters(step, options or {})
    require_available(step, settings)
    return step, checked


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
    params = validate_parameters(relief, carried)
    output = relief.generate(source, params, settings, progress)
    output.notes["fallback"] = {"from": failed, "reason": exc.code, "message": exc.message}
    return relief, params, output
