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


def corner_heights(cell_heights: np.ndarray, mask: np.ndarray, *, outline: str = "zero") -> np.ndarray:
    """Heights at the (H+1, W+1) cell corners: the mean of the four cells around each corner.

    On the outline (corners with cells both in and out of the mask) ``outline="zero"`` puts the
    height at 0 — the surface meets the rim there, as √u does — and ``"inside"`` takes the mean of
    the inside cells only. Averaging with the outside cells instead would make outline heights
    zig-zag with the pixel stairs, which shows as pleats along the rim.
    """
    inside = np.pad(mask.astype(np.float64), 1)
    values = np.pad(np.where(mask, cell_heights, 0.0), 1)
    total = values[:-1, :-1] + values[:-1, 1:] + values[1:, :-1] + values[1:, 1:]
    count = inside[:-1, :-1] + inside[:-1, 1:] + inside[1:, :-1] + inside[1:, 1:]
    if outline == "zero":
        return np.where(count == 4, total / 4.0, 0.0)
    return total / np.maximum(count, 1.0)


def masked_solid(
    mask: np.ndarray,
    front: np.ndarray,
    back: np.ndarray,
    pixel_mm: float,
    *,
    outline_smoothing: int = 40,
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
        xy = _relax_near_outline(xy, corner_id, rows, cols, np.unique(u))
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


def _relax_near_outline(
    xy: np.ndarray,
    corner_id: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    outline: np.ndarray,
    rings: int = 3,
    iterations: int = 6,
    limit: float = 0.3,
) -> np.ndarray:
    """Let the few rings of grid corners inside the smoothed outline follow it.

    Without this the first rows of cells keep their stair steps, which show as pleats where the
    surface is steep (a puffy body's rim). Each corner moves toward the mean of its grid
    neighbours, by at most ``limit`` cells, so no cell can fold.
    """
    padded = np.pad(corner_id, 1, constant_values=-1)
    neighbours = np.column_stack(
        [
            padded[rows, cols + 1],
            padded[rows + 2, cols + 1],
            padded[rows + 1, cols],
            padded[rows + 1, cols + 2],
        ]
    )
    present = neighbours >= 0
    # Corners within `rings` grid steps of the outline, not on it.
    near = np.zeros(len(xy), dtype=bool)
    near[outline] = True
    for _ in range(rings):
        near |= np.any(near[np.where(present, neighbours, 0)] & present, axis=1)
    near[outline] = False
    band = np.nonzero(near)[0]
    if len(band) == 0:
        return xy
    start = xy[band].copy()
    out = xy.copy()
    nb, ok = neighbours[band], present[band]
    count = ok.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        mean = (out[np.where(ok, nb, 0)] * ok[..., None]).sum(axis=1) / count
        out[band] = 0.5 * out[band] + 0.5 * mean
    shift = out[band] - start
    length = np.linalg.norm(shift, axis=1, keepdims=True)
    out[band] = start + shift * np.minimum(1.0, limit / np.maximum(length, 1e-12))
    return out


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
