"""The ``relief`` engine's work: find the subject, then hand the picture to its mode's builder.

A builder is ``build(rgba, mask, params, progress) → closed mesh in mm``, or an
:class:`~orfeas.engines.base.EngineOutput` when it has notes for the report too; adding a mode is
one module with its builder and one entry in :data:`BUILDERS` (and its name in ``parameters.Mode``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import trimesh

from orfeas.engines.base import EngineInput, EngineOutput, ProgressCallback
from orfeas.engines.relief.grid import colour_source, find_mask
from orfeas.engines.relief.heightmap import heightmap
from orfeas.engines.relief.lithophane import lithophane
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.engines.relief.plaque import plaque
from orfeas.engines.relief.puffy import puffy
from orfeas.engines.relief.revolve import revolve
from orfeas.imaging.mask import ForegroundMask
from orfeas.settings import Settings

Builder = Callable[
    [np.ndarray, "ForegroundMask | None", ReliefParameters, ProgressCallback],
    "trimesh.Trimesh | EngineOutput",
]

#: mode → its builder.
BUILDERS: dict[str, Builder] = {
    "puffy": puffy,
    "relief": plaque,
    "lithophane": lithophane,
    "heightmap": heightmap,
    "revolve": revolve,
}


def build(
    source: EngineInput, params: ReliefParameters, progress: ProgressCallback, settings: Settings
) -> EngineOutput:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    rgba = colour_source(source)
    notes: dict[str, Any] = {"mode": params.mode}

    progress("mask", 0.0)
    found = find_mask(rgba, params.mode, params.mask, source.mask_edit, settings)
    if found is not None:
        notes.update(found.notes())
    timings["mask"], clock = time.perf_counter() - clock, time.perf_counter()

    progress("height", 0.0)
    built = BUILDERS[params.mode](rgba, found, params, progress)
    if isinstance(built, EngineOutput):
        notes.update(built.notes)
    mesh = built.mesh if isinstance(built, EngineOutput) else built
    timings["mesh"] = time.perf_counter() - clock
    return EngineOutput(mesh=mesh, units="mm", notes=notes, timings=timings)
