"""Generation engines: each turns an image into a closed mesh behind one interface (``base``).

``relief`` (classical, CPU, always available) is the embedded default; neural engines register
here too and report why they cannot run when their packages, weights or GPU are missing.
"""

from __future__ import annotations

from orfeas.engines.base import Availability, Engine, EngineInput, EngineOutput
from orfeas.engines.diffusion import DiffusionTextToImage
from orfeas.engines.hunyuan3d import Hunyuan3DEngine
from orfeas.engines.relief import ReliefEngine
from orfeas.errors import InputRejected

_ENGINES: dict[str, Engine] = {engine.name: engine for engine in (ReliefEngine(), Hunyuan3DEngine())}
#: Text → picture steps (not 3D engines): ``lettering`` is built in, these are the neural ones.
_TEXT_TO_IMAGE = {step.name: step for step in (DiffusionTextToImage(),)}


def text_to_image_engines() -> list[DiffusionTextToImage]:
    """The neural text → picture steps, available or not (each has availability() and parameters)."""
    return list(_TEXT_TO_IMAGE.values())


def get_text_to_image(name: str) -> DiffusionTextToImage:
    """The neural text → picture step ``name``; unknown names are an input error listing the known
    ones (``lettering``, the built-in typesetting, is not a neural step and is not found here)."""
    try:
        return _TEXT_TO_IMAGE[name]
    except KeyError:
        known = ", ".join(["lettering", *_TEXT_TO_IMAGE])
        raise InputRejected(
            f"Unknown text_to_image '{name}'. Known: {known}.",
            code="invalid_parameter",
            field="text_to_image",
        ) from None


def all_engines() -> list[Engine]:
    """Every known engine, available or not, in a stable order."""
    return list(_ENGINES.values())


def get_engine(name: str) -> Engine:
    """The engine called ``name``; unknown names are an input error listing the known ones."""
    try:
        return _ENGINES[name]
    except KeyError:
        known = ", ".join(_ENGINES)
        raise InputRejected(
            f"Unknown engine '{name}'. Known engines: {known}.", code="unknown_engine", field="engine"
        ) from None


__all__ = [
    "Availability",
    "Engine",
    "EngineInput",
    "EngineOutput",
    "all_engines",
    "get_engine",
    "get_text_to_image",
    "text_to_image_engines",
]
