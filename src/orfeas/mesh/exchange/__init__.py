"""File formats, one module each; :func:`export` and :func:`load` dispatch on the format name."""

from __future__ import annotations

from collections.abc import Callable

import trimesh

from orfeas.mesh.exchange import glb, obj, ply, stl, threemf
from orfeas.mesh.formats import CONTENT_TYPES, FORMATS, format_from_path, known_format
from orfeas.mesh.texture import PlanarTexture

__all__ = ["CONTENT_TYPES", "FORMATS", "export", "format_from_path", "load"]


_EXPORTERS: dict[str, Callable[[trimesh.Trimesh], bytes]] = {
    "stl": stl.export_stl,
    "3mf": threemf.export_3mf,
    "obj": obj.export_obj,
    "glb": glb.export_glb,
    "ply": ply.export_ply,
}

_LOADERS: dict[str, Callable[[bytes], trimesh.Trimesh]] = {
    "stl": stl.load_stl,
    "3mf": threemf.load_3mf,
    "obj": obj.load_obj,
    "glb": glb.load_glb,
    "ply": ply.load_ply,
}


def export(mesh: trimesh.Trimesh, fmt: str, *, texture: PlanarTexture | None = None) -> bytes:
    """``mesh`` (millimetres) as the bytes of a ``fmt`` file. ``texture``, the picture laid over
    the model from above, goes into the formats that carry textures (GLB) when it is sharper than
    the vertex colours."""
    fmt = known_format(fmt)
    if fmt == "glb":
        return glb.export_glb(mesh, texture=texture)
    return _EXPORTERS[fmt](mesh)


def load(data: bytes, fmt: str) -> trimesh.Trimesh:
    """A ``fmt`` file's bytes as one mesh in millimetres (GLB's metres are converted back),
    with coincident vertices merged (STL stores every triangle's corners separately)."""
    mesh = _LOADERS[known_format(fmt)](data)
    mesh.merge_vertices()
    return mesh
