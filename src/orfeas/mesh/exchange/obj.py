"""Wavefront OBJ with per-vertex colours (the ``v x y z r g b`` extension Blender and MeshLab read).

:func:`read_obj` reads a file from elsewhere line by line, keeping only positions, colours and
triangles (8 bytes a number) and stopping at the face cap: trimesh's reader holds the whole text
and its token lists at once, several times the file's size.
"""

from __future__ import annotations

import io
import itertools
from array import array

import numpy as np
import trimesh

from orfeas.errors import InputRejected


def export_obj(mesh: trimesh.Trimesh) -> bytes:
    text = trimesh.exchange.obj.export_obj(
        mesh, include_normals=False, include_color=True, include_texture=False, header="ORFEAS, units: mm"
    )
    return text.encode("utf-8")


def load_obj(data: bytes) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(data), file_type="obj", force="mesh", process=False)


def read_obj(data: bytes, max_faces: int | None = None) -> trimesh.Trimesh:
    """Positions, vertex colours (when every vertex has them) and faces, fanned into triangles.

    Raises :class:`InputRejected`: ``too_large`` as soon as the triangles pass ``max_faces`` or the
    vertices pass three per allowed triangle; ``corrupt`` for a face that is not numbers or names
    a vertex that does not exist.
    """
    if max_faces is not None and data.count(b"\nf ") > max_faces:  # each face line is ≥ 1 triangle
        raise InputRejected(f"The OBJ file has more than {max_faces:,} faces (the limit).", code="too_large")
    max_vertices = None if max_faces is None else 3 * max_faces
    positions, colours, triangles = array("d"), array("d"), array("q")
    vertices = 0
    coloured = True
    highest = 0  # the largest 1-based index a face used (they may name vertices defined later)
    for line in io.BytesIO(data):
        if line[:1] in (b" ", b"\t"):
            line = line.lstrip()
        kind = line[:2]
        if kind in (b"v ", b"v\t"):
            values = line.split()
            if len(values) < 4:
                raise InputRejected(
                    f"The OBJ file has a vertex with too few numbers: {_show(line)}.", code="corrupt"
                )
            try:
                positions.extend((float(values[1]), float(values[2]), float(values[3])))
                if len(values) >= 7:
                    colours.extend((float(values[-3]), float(values[-2]), float(values[-1])))
                else:
                    coloured = False
            except ValueError:
                raise InputRejected(
                    f"The OBJ file has a vertex that is not numbers: {_show(line)}.", code="corrupt"
                ) from None
            vertices += 1
            if max_vertices is not None and vertices > max_vertices:
                raise InputRejected(
                    f"The OBJ file has more than {max_vertices:,} vertices (three per allowed triangle).",
                    code="too_large",
                )
        elif kind in (b"f ", b"f\t"):
            corners = []
            for token in line.split()[1:]:
                try:
                    index = int(token.split(b"/", 1)[0])
                except ValueError:
                    raise InputRejected(
                        f"The OBJ file has a face that is not a list of numbers: {_show(line)}.",
                        code="corrupt",
                    ) from None
                if index < 0:
                    index += vertices + 1  # relative to the vertices read so far
                    if index < 1:
                        raise InputRejected(
                            f"The OBJ file's face {_show(line)} refers to a vertex before the first.",
                            code="corrupt",
                        )
                elif index == 0:
                    raise InputRejected(
                        "The OBJ file has a face with vertex index 0 (they start at 1).", code="corrupt"
                    )
                highest = max(highest, index)
                corners.append(index - 1)
            if len(corners) < 3:
                raise InputRejected(
                    f"The OBJ file has a face with fewer than 3 corners: {_show(line)}.", code="corrupt"
                )
            first = corners[0]
            for b, c in itertools.pairwise(corners[1:]):
                triangles.extend((first, b, c))
            if max_faces is not None and len(triangles) > 3 * max_faces:
                raise InputRejected(
                    f"The OBJ file holds more than {max_faces:,} triangles (the limit): reading stopped.",
                    code="too_large",
                )
    if highest > vertices:
        raise InputRejected(
            f"The OBJ file's faces refer to vertex {highest}, but it has {vertices} vertices.", code="corrupt"
        )
    mesh = trimesh.Trimesh(
        np.frombuffer(positions, dtype=np.float64).reshape(-1, 3),
        np.frombuffer(triangles, dtype=np.int64).reshape(-1, 3),
        process=False,
    )
    if coloured and vertices:
        rgb = np.frombuffer(colours, dtype=np.float64).reshape(-1, 3)
        scale = 255.0 if rgb.max(initial=0.0) <= 1.0 else 1.0
        rgba = np.full((vertices, 4), 255, dtype=np.uint8)
        rgba[:, :3] = np.clip(np.rint(rgb * scale), 0, 255)
        mesh.visual.vertex_colors = rgba
    return mesh


def _show(line: bytes) -> str:
    return repr(line.strip()[:60].decode("utf-8", "replace"))
