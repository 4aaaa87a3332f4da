"""Binary glTF with vertex colours. glTF's unit is the metre, so millimetres are scaled by 1/1000
on the way out and back on the way in: the model drops into Blender or a game engine at its
real size."""

from __future__ import annotations

import io

import trimesh

MM_PER_METRE = 1000.0


def export_glb(mesh: trimesh.Trimesh) -> bytes:
    scaled = mesh.copy()
    scaled.apply_scale(1.0 / MM_PER_METRE)
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(scaled), include_normals=True)


def load_glb(data: bytes) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False)
    mesh.apply_scale(MM_PER_METRE)
    return mesh
