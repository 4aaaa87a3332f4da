"""A ZIP of binary STLs, one per part of a colour print (STL holds no colour, so each filament
gets its own file, named by extruder number, part and colour: ``1-base-1e1f2a.stl``); a model of
one colour is one STL in it. Written reproducibly (fixed dates), read back as the parts' union."""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

import trimesh

from orfeas.mesh.exchange.stl import export_stl, load_stl

if TYPE_CHECKING:
    from orfeas.mesh.parts import Part

_FIXED_DATE = (2020, 1, 1, 0, 0, 0)


def part_file_names(parts: list[Part]) -> list[str]:
    """``<extruder>-<name>-<colour>.stl`` for each part (safe for any file system)."""
    return [
        f"{n}-{re.sub(r'[^a-z0-9]+', '-', part.name.lower()).strip('-')}-{part.hex[1:]}.stl"
        for n, part in enumerate(parts, start=1)
    ]


def export_stl_zip(mesh: trimesh.Trimesh, parts: list[Part] | None = None) -> bytes:
    members = (
        list(zip(part_file_names(parts), (part.mesh for part in parts), strict=True))
        if parts
        else [("model.stl", mesh)]
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, member in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, export_stl(member), compresslevel=6)
    return buffer.getvalue()


def load_stl_zip(data: bytes) -> list[trimesh.Trimesh]:
    """Every STL in the archive, in order (the caller joins them: their union is the model)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        meshes = []
        for name in archive.namelist():
            if name.lower().endswith(".stl"):
                mesh = load_stl(archive.read(name))
                mesh.merge_vertices()
                meshes.append(mesh)
    return meshes
