"""File formats, one module each; :func:`export` and :func:`load` dispatch on the format name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import trimesh

from orfeas.mesh.exchange import glb, obj, ply, stl, threemf
from orfeas.mesh.texture import PlanarTexture

#: Every format ORFEAS writes, in the order the studio lists them.
FORMATS: tuple[str, ...] = ("stl", "3mf", "obj", "glb", "ply")

CONTENT_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "3mf": "model/3mf",
    "obj": "model/obj",
    "glb": "model/gltf-binary",
    "ply": "application/octet-stream",
}

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
    fmt = _known(fmt)
    if fmt == "glb":
        return glb.export_glb(mesh, texture=texture)
    return _EXPORTERS[fmt](mesh)


def load(data: bytes, fmt: str) -> trimesh.Trimesh:
    """A ``fmt`` file's bytes as one mesh in millimetres (GLB's metres are converted back),
    with coincident vertices merged (STL stores every triangle's corners separately)."""
    mesh = _LOADERS[_known(fmt)](data)
    mesh.merge_vertices()
    return mesh


def format_from_path(path: str | Path) -> str:
    """The format named by a file's extension (``model.STL`` → ``"stl"``)."""
    return _known(Path(path).suffix.lstrip(".").lower())


def _known(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in _EXPORTERS:
        raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return fmt
