"""Binary PLY with per-vertex colours."""

from __future__ import annotations

import io

import trimesh


def export_ply(mesh: trimesh.Trimesh) -> bytes:
    return trimesh.exchange.ply.export_ply(mesh, encoding="binary", include_attributes=False)


def load_ply(data: bytes) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(data), file_type="ply", force="mesh", process=False)
