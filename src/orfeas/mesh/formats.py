"""The file formats ORFEAS writes, by name, with their content types (no mesh code: light to import).

:data:`FORMATS` are the mesh formats: each file holds the whole model and reads back as one mesh
(what the mesh doctor accepts too). A job may also ask for :data:`PARTS_ZIP`, a ZIP of one STL per
colour part: STL holds no colour, so a colour print's parts travel as separate files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

#: A mesh format.
Format = Literal["stl", "3mf", "obj", "glb", "ply"]
#: Every mesh format ORFEAS writes, in the order the studio lists them.
FORMATS: tuple[str, ...] = Format.__args__  # type: ignore[attr-defined]
#: A ZIP of one binary STL per part of a colour print (one STL, the model, otherwise).
PARTS_ZIP = "stl.zip"
#: What a job may ask for: the mesh formats and the ZIP of parts.
OutputFormat = Literal["stl", "3mf", "obj", "glb", "ply", "stl.zip"]
OUTPUT_FORMATS: tuple[str, ...] = OutputFormat.__args__  # type: ignore[attr-defined]

CONTENT_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "3mf": "model/3mf",
    "obj": "model/obj",
    "glb": "model/gltf-binary",
    "ply": "application/octet-stream",
    PARTS_ZIP: "application/zip",
}


def format_from_path(path: str | Path) -> str:
    """The format named by a file's extension (``model.STL`` → ``"stl"``, ``parts.stl.zip`` →
    ``"stl.zip"``); ``ValueError`` otherwise."""
    name = Path(path).name.lower()
    if name.endswith("." + PARTS_ZIP):
        return PARTS_ZIP
    return known_format(Path(path).suffix.lstrip(".").lower())


def known_format(fmt: str) -> str:
    """``fmt`` (any case, with or without a dot) when ORFEAS writes it; ``ValueError`` otherwise."""
    fmt = fmt.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(OUTPUT_FORMATS)}")
    return fmt
