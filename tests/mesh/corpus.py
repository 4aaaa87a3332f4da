"""Meshes the tests build: broken ones the doctor must repair, and hostile files it must refuse."""

from __future__ import annotations

import struct

import numpy as np
import trimesh

from orfeas.mesh.doctor import RepairOptions

#: Small caps, so the hostile files stay cheap to build.
CAPS = {"max_bytes": 5_000_000, "max_faces": 100_000}


def box(size: tuple[float, float, float] = (20.0, 20.0, 20.0), at: tuple[float, float, float] = (0, 0, 0)):
    mesh = trimesh.creation.box(size)
    mesh.apply_translation(at)
    return mesh


def broken_corpus() -> dict[str, tuple[trimesh.Trimesh, RepairOptions, float]]:
    """name → (mesh, options, the right volume in cm³)."""
    cube = box()
    flipped = cube.faces.copy()
    flipped[:4] = flipped[:4, ::-1]
    edge_touch = trimesh.util.concatenate([cube, box(at=(20, 20, 0))])
    edge_touch.merge_vertices()
    return {
        "cube-with-hole": (
            trimesh.Trimesh(cube.vertices, cube.faces[:-1], process=False),
            RepairOptions(),
            8.0,
        ),
        "flipped-faces": (trimesh.Trimesh(cube.vertices, flipped, process=False), RepairOptions(), 8.0),
        "duplicated-faces": (
            trimesh.Trimesh(cube.vertices, np.vstack([cube.faces, cube.faces[:5]]), process=False),
            RepairOptions(),
            8.0,
        ),
        "overlapping-bodies": (trimesh.util.concatenate([cube, box(at=(10, 0, 0))]), RepairOptions(), 12.0),
        "non-manifold-edge": (edge_touch, RepairOptions(), 16.0),
        "inches": (box((1, 2, 0.5)), RepairOptions(units_to_mm=25.4), 25.4**3 / 1000),
        "inside-out": (
            trimesh.Trimesh(cube.vertices, cube.faces[:, ::-1], process=False),
            RepairOptions(),
            8.0,
        ),
    }


def binary_stl(count_claimed: int, records: int) -> bytes:
    """A binary STL header claiming ``count_claimed`` triangles, followed by ``records`` of them."""
    return b"\0" * 80 + struct.pack("<I", count_claimed) + b"\0" * (50 * records)


#: name → (file bytes, the InputRejected code), each refused under :data:`CAPS`.
HOSTILE_MESHES: dict[str, tuple[bytes, str]] = {
    "zero-bytes": (b"", "empty"),
    "stl-count-lies": (binary_stl(1000, 3), "corrupt"),
    "over-face-cap": (binary_stl(200_000, 200_000), "too_large"),
    "ascii-stl-bomb": (  # 110 000 terse facets in 4.95 MB: under the byte cap, over the face cap
        b"solid x\n" + b"facet\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n" * 110_000 + b"endsolid\n",
        "too_large",
    ),
    "obj-index-out-of-range": (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 1 2 9\n", "corrupt"),
    "nan": (b"v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "corrupt"),
    "inf": (b"v 0 0 0\nv 1 0 0\nv inf 1 0\nf 1 2 3\n", "corrupt"),
    "text": (b"just some words in a text file\n", "unsupported_type"),
    "broken-3mf": (b"PK\x03\x04 not really a zip", "corrupt"),
}
