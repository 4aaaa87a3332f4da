"""Binary STL in millimetres (the format every slicer reads)."""

from __future__ import annotations

import io

import numpy as np
import trimesh

_HEADER = b"ORFEAS binary STL, units: millimetres".ljust(80, b" ")
_RECORD = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])


def export_stl(mesh: trimesh.Trimesh) -> bytes:
    """Binary STL bytes: 80-byte header, triangle count, one 50-byte record per triangle."""
    records = np.zeros(len(mesh.faces), dtype=_RECORD)
    records["normal"] = mesh.face_normals
    records["vertices"] = mesh.triangles
    return _HEADER + np.uint32(len(records)).tobytes() + records.tobytes()


def load_stl(data: bytes) -> trimesh.Trimesh:
    """Read STL bytes (binary or ASCII) into one mesh with coincident vertices merged."""
    return trimesh.load(io.BytesIO(data), file_type="stl", force="mesh", process=False)
