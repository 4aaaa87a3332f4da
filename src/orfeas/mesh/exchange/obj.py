"""Wavefront OBJ with per-vertex colours (the ``v x y z r g b`` extension Blender and MeshLab read)."""

from __future__ import annotations

import io

import trimesh


def export_obj(mesh: trimesh.Trimesh) -> bytes:
    text = trimesh.exchange.obj.export_obj(
        mesh, include_normals=False, include_color=True, include_texture=False, header="ORFEAS, units: mm"
    )
    return text.encode("utf-8")


def load_obj(data: bytes) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(data), file_type="obj", force="mesh", process=False)
