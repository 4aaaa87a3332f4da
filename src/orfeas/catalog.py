"""What this server can make: engines (and whether each can run here, and why not), painting steps,
the mesh doctor's tasks, formats, the product's rules and the input limits.

It is what ``GET /api/v1/engines`` answers and ``orfeas engines`` prints. It imports only the
light halves of the engines (parameters and availability), never their numerical code, so listing
them starts at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orfeas.engines import all_engines, get_engine, text_to_image_engines
from orfeas.errors import OrfeasError
from orfeas.imaging.lettering import LetteringOptions
from orfeas.imaging.sources import MASK_METHODS, MASK_SOURCES, mask_sources
from orfeas.mesh.doctor_options import DoctorParameters
from orfeas.mesh.formats import OUTPUT_FORMATS
from orfeas.settings import Settings
from orfeas.spec import MESH_DEFAULT_FORMATS, MESH_TASKS, TEXT_DEFAULTS
from orfeas.version import VERSION

#: Where a mask may come from (the engines' ``mask`` parameter) and what can end up making it (a
#: report's ``mask_method``): the vocabulary the API's schemas and the metrics use.
__all__ = [
    "MASK_METHODS",
    "MASK_SOURCES",
    "catalog",
    "engine_availability",
    "engine_entry",
    "engine_names",
    "engine_version",
    "without_home",
]


def engine_names() -> tuple[str, ...]:
    """Every engine this ORFEAS knows, available here or not."""
    return tuple(engine.name for engine in all_engines())


def engine_availability(settings: Settings) -> dict[str, bool]:
    """Whether each engine can run with ``settings``."""
    return {engine.name: engine.availability(settings).available for engine in all_engines()}


def engine_version(name: str) -> str:
    """The version of engine ``name``; the mesh doctor and painting go by the ORFEAS version."""
    try:
        return str(get_engine(name).version)
    except OrfeasError:
        return VERSION


def engine_entry(engine: Any, settings: Settings) -> dict[str, Any]:
    """One engine (or painting step) as the catalog lists it: can it run here, and its schema."""
    state = engine.availability(settings)
    return {
        "name": engine.name,
        "version": engine.version,
        "available": state.available,
        "reason": without_home(state.reason) or None,
        "parameters": engine.parameters_model.model_json_schema(),
    }


def catalog(settings: Settings) -> dict[str, Any]:
    """What this server can make: engines (and whether each can run here, and why not), painting
    steps, the mesh doctor's tasks, the formats, the product rules and the input limits."""
    return {
        "engines": [engine_entry(engine, settings) for engine in all_engines()],
        "text_to_image": [engine_entry(step, settings) for step in text_to_image_engines()],
        "mesh_doctor": {"tasks": list(MESH_TASKS), "parameters": DoctorParameters.model_json_schema()},
        "default": settings.default_engine,
        "formats": list(OUTPUT_FORMATS),
        "rules": {
            "text": TEXT_DEFAULTS,
            "mesh_formats": {k: list(v) for k, v in MESH_DEFAULT_FORMATS.items()},
        },
        "lettering": _lettering_schema(),
        "masks": [
            {k: without_home(v) if isinstance(v, str) else v for k, v in source.items()}
            for source in mask_sources(settings)
        ],
        "limits": {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_image_pixels": settings.max_image_pixels,
            "max_text_chars": settings.max_text_chars,
            "max_model_bytes": settings.max_model_bytes,
            "max_model_faces": settings.max_model_faces,
        },
    }


def _lettering_schema() -> dict[str, Any]:
    """How a typeset text may be set, as a JSON schema (without ``font_path``: a file on the server
    is not a client's to name)."""
    schema = LetteringOptions.model_json_schema()
    schema.get("properties", {}).pop("font_path", None)
    return schema


def without_home(text: str) -> str:
    """``text`` with this account's home folder written as ``~``: a reason shown to any client
    need not tell them where the server's account lives."""
    home = str(Path.home())
    return text.replace(home, "~") if home not in ("", "/") else text
