"""The whole generation path, top to bottom: input → engine → mesh post-processing → report.

Read :func:`generate` first; every other module in ``orfeas`` serves one of its steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from orfeas.engines import get_engine
from orfeas.engines.base import (
    EngineInput,
    ProgressCallback,
    no_progress,
    require_available,
    validate_parameters,
)
from orfeas.imaging import decode_image, render_text
from orfeas.imaging.lettering import LetteringOptions
from orfeas.mesh import exchange
from orfeas.mesh.repair import clean_mesh, place_on_bed, scale_to_size, simplify_to
from orfeas.mesh.report import printability_report
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

    def export(self, fmt: str) -> bytes:
        """The model as file bytes in ``fmt`` (one of :data:`orfeas.mesh.exchange.FORMATS`)."""
        return exchange.export(self.mesh, fmt)

    def save(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the model to ``path`` atomically; the format comes from the extension unless given."""
        path = Path(path)
        fmt = fmt or exchange.format_from_path(path)
        exchange.write_atomic(path, self.export(fmt))
        return path


def generate(
    image: bytes | str | Path | None = None,
    *,
    text: str | None = None,
    engine: str | None = None,
    params: dict[str, Any] | None = None,
    lettering: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
) -> Model:
    """Turn an image (bytes or a path) or a line of text into a verified, print-ready model.

    ``params`` are the engine's parameters (see ``orfeas engines``); ``lettering`` the options for
    text (font, outline, border). Raises :class:`orfeas.errors.InputRejected` for unusable input,
    :class:`~orfeas.errors.EngineUnavailable`, or :class:`~orfeas.errors.MeshInvalid`.
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
    if text is not None and "mode" not in raw_params:
        raw_params["mode"] = "relief"  # text makes a name plate unless asked otherwise
    checked = validate_parameters(chosen, raw_params)
    require_available(chosen)

    # 2. Input → 8-bit RGBA.
    progress("decode", 0.0)
    if text is not None:
        rgba = render_text(text, LetteringOptions.model_validate(lettering or {}), settings=settings)
    else:
        if image is None:
            from orfeas.errors import InputRejected

            raise InputRejected("Give an image or a text.", code="empty")
        data = Path(image).read_bytes() if isinstance(image, str | Path) else image
        rgba = decode_image(data, settings=settings).rgba
    lap("decode")

    # 3. The engine builds a closed mesh (its own stages: mask, height, mesh).
    source = EngineInput(rgba=rgba, source="text" if text is not None else "image")
    output = chosen.generate(source, checked, progress)
    timings.update(output.timings)
    clock = time.perf_counter()

    # 4. One post-processing path for every engine: clean → scale → simplify → verify.
    progress("simplify", 0.0)
    mesh = clean_mesh(output.mesh)
    if output.units == "model":
        mesh = scale_to_size(mesh, float(getattr(checked, "size_mm", 100.0)))
    mesh = simplify_to(mesh, int(getattr(checked, "target_faces", 50_000)))
    mesh = place_on_bed(mesh)
    lap("simplify")

    progress("verify", 0.0)
    verification = verify(mesh)  # raises MeshInvalid: a failing mesh is never returned
    report = printability_report(mesh, verification)
    report["engine"] = {"name": chosen.name, "version": chosen.version, **output.notes}
    report["parameters"] = checked.model_dump(mode="json")
    lap("verify")
    progress("export", 0.0)
    return Model(mesh=mesh, report=report, timings=timings, source_rgba=rgba)
