"""The file formats ORFEAS writes, by name, with their content types (no mesh code: light to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

#: A format a job may ask for.
Format = Literal["stl", "3mf", "obj", "glb", "ply"]
#: Every format ORFEAS writes, in the order the studio lists them.
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]

CONTENT_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "3mf": "model/3mf",
    "obj": "model/obj",
    "glb": "model/gltf-binary",
    "ply": "application/octet-stream",
}


def format_from_path(path: str | Path) -> str:
    """The format named by a file's extension (``model.STL`` → ``"stl"``); ``ValueError`` otherwise."""
    return known_format(Path(path).suffix.lstrip(".").lower())


def known_format(fmt: str) -> str:
    """``fmt`` (any case, with or without a dot) when ORFEAS writes it; ``ValueError`` otherwise."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return fmt
