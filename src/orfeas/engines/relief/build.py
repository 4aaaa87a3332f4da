"""The ``relief`` engine's work: find the subject, then hand the picture to its mode's builder.

A builder is ``build(rgba, mask, params, progress, settings) → Built``: the closed mesh in mm, the
:class:`~orfeas.mesh.fidelity.Intent` it was built to (placed like the mesh) and notes for the
report. Adding a mode is one module with its builder and one entry in :data:`BUILDERS` (and its
name in ``parameters.Mode``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from orfeas.engines.base import EngineInput, EngineOutput, ProgressCallback
from orfeas.engines.relief.cutter import cutter
from orfeas.engines.relief.extrude import extrude
from orfeas.engines.relief.grid import Built, colour_source, find_mask
from orfeas.engines.relief.heightmap import heightmap
from orfeas.engines.relief.keychain import keychain
from orfeas.engines.relief.lithophane import lithophane
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.engines.relief.plaque import plaque
from orfeas.engines.relief.puffy import puffy
from orfeas.engines.relief.revolve import revolve
from orfeas.engines.relief.stamp import stamp
from orfeas.imaging.mask import ForegroundMask
from orfeas.settings import Settings

Builder = Callable[[np.ndarray, "ForegroundMask | None", ReliefParameters, ProgressCallback, Settings], Built]

#: mode → its builder.
BUILDERS: dict[str, Builder] = {
    "puffy": puffy,
    "relief": plaque,
    "extrude": extrude,
    "keychain": keychain,
    "cutter": cutter,
    "stamp": stamp,
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
    built = BUILDERS[params.mode](rgba, found, params, progress, settings)
    notes.update(built.notes)
    timings["mesh"] = time.perf_counter() - clock
    return EngineOutput(
        mesh=built.mesh, units="mm", intent=built.intent, notes=notes, timings=timings, parts=built.parts
    )
