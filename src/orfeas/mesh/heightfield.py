"""Closed solids built directly from height fields — watertight by construction.

Two shapes cover every relief mode:

* :func:`masked_solid` — the cells of a boolean mask, with a front and a back height per cell,
  joined by wall quads along the mask's outline (puffy shapes, reliefs without a plate).
* :func:`slab` — a full rectangle with an adaptively triangulated top (pydelatin's ``hmm``
  algorithm) over a flat back (lithophanes, plaques with a base plate, height maps).

Both use the same wall rule: for a top edge traversed ``u → v`` the wall quad is
``(v_top, u_top, u_bottom), (v_top, u_bottom, v_bottom)``, which keeps the winding consistent.
"""

from __future__ import annotations

import numpy as np
import trimesh
from pydelatin import Delatin
from scipy import ndimage


def fix_pinches(mask: np.ndarray) -> np.ndarray:
    """Fill cells so no two foreground cells touch only at a corner (keeps the outline a manifold)."""
    m = mask.astype(bool).copy()
    while True:  # filling only adds cells, so this ends
        a, b = m[:-1, :-1], m[:-1, 1:]
        c, d = m[1:, :-1], m[1:, 1:]
        diag = a & d & ~b & ~c
        anti = b & c & ~a & ~d
        if not (diag.any() or anti.any()):
            return m
        # Fill the two empty cells of each pinched 2 × 2 window.
        rows, cols = np.nonzero(diag)
        m[rows, cols + 1] = True
        m[rows + 1, cols] = True
        rows, cols = np.nonzero(anti)
        m[rows, cols] = True
        m[rows + 1, cols + 1] = True
    return m


def corner_heights(cell_heights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Heights at the (H+1, W+1) cell corners: the mean of the four cells around each corner,
    counting cells outside the mask as zero, so heights fall toward the outline."""
    padded = np.pad(np.where(mask, cell_heights, 0.0), 1)
    return 0.25 * (padded[:-1, :-1] + padded[:-1, 1:] + padded[1:, :-1] + padded[1:, 1:])


def masked_solid(
    mask: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    pixel_mm: float,
    *,
    outline_smoothing: int = 8,
) -> trimesh.Trimesh:
    """A closed mesh over the cells of ``mask`` (must be pinch-free, see :func:`fix_pinches`).

    ``front`` and ``back`` are (H+1, W+1) corner heights in mm with ``front > back`` on the
    outline. Row 0 of the mask is the top of the picture (+y).
    """
    h, w = mask.shape
    used = np.zeros((h + 1, w + 1), dtype=bool)
    for dr in (0, 1):
        for dc in (0, 1):
            used[dr : dr + h, dc : dc + w] |= mask
    corner_id = np.full((h + 1, w + 1), -1, dtype=np.int64)
    n = int(used.sum())
    corner_id[used] = np.arange(n)
    rows, cols = np.nonzero(used)
    xy = np.column_stack([cols, h - rows]).astype(np.float64)

    ci, cj = np.nonzero(mask)
    a, b = corner_id[ci, cj], corner_id[ci, cj + 1]
    c, d = corner_id[ci + 1, cj + 1], corner_id[ci + 1, cj]
    front_faces = np.concatenate([np.column_stack([a, c, b]), np.column_stack([a, d, c])])
    back_faces = np.concatenate([np.column_stack([a, b, c]), np.column_stack([a, c, d])]) + n

    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1]
    sides = (  # (neighbour is background, u, v) for the front's edge u → v on each side of a cell
        (~padded[:-2, 1:-1] & inner, b, a),  # top
        (~padded[1:-1, :-2] & inner, a, d),  # left
        (~padded[2:, 1:-1] & inner, d, c),  # bottom
        (~padded[1:-1, 2:] & inner, c, b),  # right
    )
    us, vs = [], []
    for open_side, u, v in sides:
        hit = open_side[ci, cj]
        us.append(u[hit])
        vs.append(v[hit])
    u, v = np.concatenate(us), np.concatenate(vs)
    walls = np.concatenate([np.column_stack([v, u, u + n]), np.column_stack([v, u + n, v + n])])

    if outline_smoothing:
        xy = _smooth_outline(xy, u, v, outline_smoothing)
    z_front = front[rows, cols]
    z_back = back[rows, cols]
    vertices = np.concatenate(
        [np.column_stack([xy * pixel_mm, z_front]), np.column_stack([xy * pixel_mm, z_back])]
    )
    faces = np.concatenate([front_faces, back_faces, walls])
    return trimesh.Trimesh(vertices, faces, process=False)


def slab(top: np.ndarray, pixel_mm: float, *, max_error_mm: float, max_triangles: int) -> trimesh.Trimesh:
    """A closed rectangular solid: adaptive triangulation of ``top`` (mm, row 0 = +y) over z = 0."""
    h, w = top.shape
    tin = Delatin(
        np.ascontiguousarray(top, dtype=np.float32), max_error=max_error_mm, max_triangles=max_triangles
    )
    points = np.asarray(tin.vertices, dtype=np.float64)
    faces = np.asarray(tin.triangles, dtype=np.int64)
    xy = np.column_stack([points[:, 0], (h - 1) - points[:, 1]])
    z = top[points[:, 1].astype(int), points[:, 0].astype(int)].astype(np.float64)
    if _signed_area_sum(xy, faces) < 0:
        faces = faces[:, ::-1]
    u, v = _boundary_edges(faces)
    n = len(points)
    # Bottom copies of the boundary vertices, then one centre vertex to fan the flat back from.
    boundary = np.unique(np.concatenate([u, v]))
    bottom_id = np.full(n, -1, dtype=np.int64)
    bottom_id[boundary] = n + np.arange(len(boundary))
    centre = n + len(boundary)
    walls = np.concatenate(
        [np.column_stack([v, u, bottom_id[u]]), np.column_stack([v, bottom_id[u], bottom_id[v]])]
    )
    back = np.column_stack([np.full(len(u), centre), bottom_id[v], bottom_id[u]])
    vertices = np.concatenate(
        [
            np.column_stack([xy, z]),
            np.column_stack([xy[boundary], np.zeros(len(boundary))]),
            [[(w - 1) / 2.0, (h - 1) / 2.0, 0.0]],
        ]
    )
    vertices[:, :2] *= pixel_mm
    return trimesh.Trimesh(vertices, np.concatenate([faces, walls, back]), process=False)


def distance_inside(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (in cells) from each foreground cell to the nearest background cell."""
    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


def _signed_area_sum(xy: np.ndarray, faces: np.ndarray) -> float:
    p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    return float(cross.sum())


def _boundary_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges (u → v) of a triangulated disc that belong to one triangle only."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    single = counts[inverse.ravel()] == 1
    return edges[single, 0], edges[single, 1]


def _smooth_outline(xy: np.ndarray, u: np.ndarray, v: np.ndarray, iterations: int) -> np.ndarray:
    """Taubin-smooth the outline vertices along the outline (removes pixel stairs, keeps size).

    Each outline vertex has one incoming and one outgoing outline edge. Moves are capped below
    half a cell so no front or back triangle can fold over.
    """
    nxt = np.full(len(xy), -1, dtype=np.int64)
    prv = np.full(len(xy), -1, dtype=np.int64)
    nxt[u] = v
    prv[v] = u
    ring = u
    start = xy[ring].copy()
    out = xy.copy()
    for _ in range(iterations):
        for factor in (0.5, -0.53):
            lap = 0.5 * (out[nxt[ring]] + out[prv[ring]]) - out[ring]
            out[ring] += factor * lap
    shift = out[ring] - start
    length = np.linalg.norm(shift, axis=1, keepdims=True)
    limit = 0.45
    out[ring] = start + shift * np.minimum(1.0, limit / np.maximum(length, 1e-12))
    return out
