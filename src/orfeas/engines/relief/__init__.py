"""``relief``: the classical CPU engine — a picture becomes a solid without any model weights.

Modes (one module each, see :mod:`~orfeas.engines.relief.build`):

* ``puffy`` — the silhouette inflated into a rounded body (:mod:`.puffy`);
* ``relief`` — a bas-relief plaque, the subject raised from a flat back (:mod:`.plaque`);
* ``extrude`` — the outline extruded: flat top, vertical walls, name plates (:mod:`.extrude`);
* ``keychain`` — the design on a backing that follows its outline, with a loop (:mod:`.keychain`);
* ``lithophane`` — the whole picture, darker is thicker, to hold to the light (:mod:`.lithophane`);
* ``heightmap`` — the picture already is a height or depth image (:mod:`.heightmap`).

This module stays light (pydantic only): the numerical work is imported on the first
:meth:`ReliefEngine.generate`, so listing engines and parsing the command line stay fast.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel

from orfeas.engines.base import Availability, EngineInput, EngineOutput, ProgressCallback, no_progress
from orfeas.engines.relief.parameters import WORKING_SIDE, Mode, ReliefParameters
from orfeas.settings import Settings

__all__ = ["Mode", "ReliefEngine", "ReliefParameters"]


class ReliefEngine:
    """The classical engine; always available, deterministic, CPU only."""

    name: ClassVar[str] = "relief"
    version: ClassVar[str] = "1.0"
    parameters_model: ClassVar[type[BaseModel]] = ReliefParameters
    #: the picture's longest side as the engine works on it (a typeset text must survive it)
    working_side: ClassVar[int] = WORKING_SIDE

    def availability(self, settings: Settings) -> Availability:
        return Availability(True)

    def generate(
        self,
        source: EngineInput,
        params: BaseModel,
        settings: Settings,
        progress: ProgressCallback = no_progress,
    ) -> EngineOutput:
        assert isinstance(params, ReliefParameters)
        from orfeas.engines.relief.build import build

        return build(source, params, progress, settings)
