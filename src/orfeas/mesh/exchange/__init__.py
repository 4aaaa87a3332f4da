"""File formats, one module each; :func:`export` and :func:`load` dispatch on the format name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import trimesh

from orfeas.mesh.exchange import glb, obj, ply, stl, stlzip, threemf
from orfeas.mesh.formats import (
    CONTENT_TYPES,
    FORMATS,
    OUTPUT_FORMATS,
    PARTS_ZIP,
    format_from_path,
    known_format,
)
from orfeas.mesh.parts import fused
from orfeas.mesh.texture import PlanarTexture

if TYPE_CHECKING:
    from orfeas.mesh.parts import Part

__all__ = ["CONTENT_TYPES", "FORMATS", "OUTPUT_FORMATS", "export", "format_from_path", "load"]


_EXPORTERS: dict[str, Callable[[trimesh.Trimesh], bytes]] = {
    "stl": stl.export_stl,
    "3mf": threemf.export_3mf,
    "obj": obj.export_obj,
    "glb": glb.export_glb,
    "ply": ply.export_ply,
    PARTS_ZIP: stlzip.export_stl_zip,
}

_LOADERS: dict[str, Callable[[bytes], trimesh.Trimesh]] = {
    "stl": stl.load_stl,
    "3mf": threemf.load_3mf,
    "obj": obj.load_obj,
    "glb": glb.load_glb,
    "ply": ply.load_ply,
}


def export(
    mesh: trimesh.Trimesh,
    fmt: str,
    *,
    texture: PlanarTexture | None = None,
    parts: list[Part] | None = None,
) -> bytes:
    """``mesh`` (millimetres) as the bytes of a ``fmt`` file. ``texture``, the picture laid over
    the model from above, goes into the formats that carry textures (GLB) when it is sharper than
    the vertex colours. A colour print's ``parts`` (``mesh`` is their union) go into the formats
    that hold parts: 3MF (volumes with extruders), GLB (a material each) and the ZIP of STLs; OBJ
    and PLY carry the union with its vertex colours, STL the union."""
    fmt = known_format(fmt)
    if fmt == "glb":
        return glb.export_glb(mesh, texture=texture, parts=parts)
    if fmt in ("3mf", PARTS_ZIP):
        return _EXPORTERS[fmt](mesh, parts)  # type: ignore[call-arg]
    return _EXPORTERS[fmt](mesh)


def load(data: bytes, fmt: str) -> trimesh.Trimesh:
    """A ``fmt`` file's bytes as one mesh in millimetres (GLB's metres are converted back), with
    coincident vertices merged (STL stores every triangle's corners separately). A file of several
    touching parts (a colour print) reads back as their union."""
    fmt = known_format(fmt)
    if fmt == PARTS_ZIP:
        mesh = fused(trimesh.util.concatenate(stlzip.load_stl_zip(data)))
    else:
        mesh = _LOADERS[fmt](data)
        if fmt in ("3mf", "glb"):  # parts are separate shells here, until vertices are merged
            mesh = fused(mesh)
    mesh.merge_vertices()
    return mesh
