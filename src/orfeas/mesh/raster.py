"""Top-down height maps of triangle meshes: a z-buffer over the triangles, seen from above.

A :class:`PixelGrid` says where the pixels are (millimetres, row 0 at the top = largest y); each
pixel takes the highest point of the triangles over its centre. It is how fidelity compares a
mesh with what the engine meant to build, how the relief mesher measures its own error, and the
quickest way to look at a model (:func:`shaded`, a PNG-ready picture).

The rasteriser is plain numpy: each triangle is cut into pixel rows, each row into a span of
pixel centres, and the heights of all spans are reduced per pixel with ``np.maximum.at``. Cost
grows with the triangles' rows and covered pixels, not with their bounding boxes, so long thin
triangles (a flat top of a few thousand faces) cost no more than their area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh


@dataclass(frozen=True)
class PixelGrid:
    """``shape`` pixels of ``pixel_mm``; ``origin_mm`` is the (x, y) of the grid's top-left corner.

    Pixel (row i, column j) has its centre at x = x0 + (j + ½)·pixel, y = y0 − (i + ½)·pixel.
    """

    shape: tuple[int, int]
    pixel_mm: float
    origin_mm: tuple[float, float]

    @classmethod
    def around(cls, low: np.ndarray, high: np.ndarray, pixel_mm: float, pad: int = 1) -> PixelGrid:
        """A grid covering the (x, y) box ``low``–``high`` with ``pad`` pixels to spare each side."""
        width = int(np.ceil((high[0] - low[0]) / pixel_mm)) + 2 * pad
        height = int(np.ceil((high[1] - low[1]) / pixel_mm)) + 2 * pad
        return cls(
            (max(1, height), max(1, width)), pixel_mm, (low[0] - pad * pixel_mm, high[1] + pad * pixel_mm)
        )

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """(x, y) in mm → (column, row) in pixel units, pixel centres at whole numbers."""
        x0, y0 = self.origin_mm
        return np.column_stack([(xy[:, 0] - x0) / self.pixel_mm - 0.5, (y0 - xy[:, 1]) / self.pixel_mm - 0.5])

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) of every pixel centre, each shaped like the grid."""
        x0, y0 = self.origin_mm
        rows, cols = np.mgrid[0 : self.shape[0], 0 : self.shape[1]]
        return x0 + (cols + 0.5) * self.pixel_mm, y0 - (rows + 0.5) * self.pixel_mm

    def moved(self, dx: float, dy: float) -> PixelGrid:
        return PixelGrid(self.shape, self.pixel_mm, (self.origin_mm[0] + dx, self.origin_mm[1] + dy))


@dataclass(frozen=True)
class HeightMap:
    """What a mesh looks like from above on a grid: top height (NaN where nothing), the triangle
    seen at each pixel (−1 where nothing) and the |z| of its unit normal (1 = flat, 0 = a wall)."""

    grid: PixelGrid
    height: np.ndarray
    face: np.ndarray
    normal_z: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.face >= 0


def height_map(
    vertices: np.ndarray, faces: np.ndarray, grid: PixelGrid, *, upward_only: bool = True
) -> HeightMap:
    """Render the highest surface of a mesh over each pixel centre of ``grid``.

    ``upward_only`` skips faces looking down: for a closed mesh the top surface is made of faces
    looking up (and the silhouette from above is theirs), so the work halves.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    h, w = grid.shape
    zbuf = np.full(h * w, -np.inf)
    best = np.full(h * w, -1, dtype=np.int64)
    normal_z = np.zeros(h * w)
    if len(faces):
        a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
        normal = np.cross(b - a, c - a)
        length = np.linalg.norm(normal, axis=1)
        nz = normal[:, 2] / np.maximum(length, 1e-300)
        keep = (nz > 1e-9) if upward_only else (np.abs(nz) > 1e-9)
        ids = np.nonzero(keep)[0]
        spans = _spans(grid.to_pixels(vertices[:, :2]), vertices[:, 2], faces[ids], grid.shape)
        if spans is not None:
            index, z, owner = spans
            np.maximum.at(zbuf, index, z)
            winner = z >= zbuf[index]
            best[index[winner]] = ids[owner[winner]]
            seen = best >= 0
            normal_z[seen] = np.abs(nz[best[seen]])
    height = np.where(best >= 0, zbuf, np.nan).reshape(h, w)
    return HeightMap(grid, height, best.reshape(h, w), normal_z.reshape(h, w))


def mesh_height_map(mesh: trimesh.Trimesh, grid: PixelGrid, *, upward_only: bool = True) -> HeightMap:
    """:func:`height_map` of a :class:`trimesh.Trimesh`."""
    return height_map(np.asarray(mesh.vertices), np.asarray(mesh.faces), grid, upward_only=upward_only)


def _spans(
    uv: np.ndarray, z: np.ndarray, faces: np.ndarray, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Every pixel centre inside every triangle: (flat pixel index, height there, triangle)."""
    h, w = shape
    if len(faces) == 0:
        return None
    pu, pv, pz = uv[faces, 0], uv[faces, 1], z[faces]  # (m, 3) each
    # The plane z = α·u + β·v + γ through each triangle (in pixel units).
    du1, dv1, dz1 = pu[:, 1] - pu[:, 0], pv[:, 1] - pv[:, 0], pz[:, 1] - pz[:, 0]
    du2, dv2, dz2 = pu[:, 2] - pu[:, 0], pv[:, 2] - pv[:, 0], pz[:, 2] - pz[:, 0]
    det = du1 * dv2 - du2 * dv1
    ok = np.abs(det) > 1e-12
    if not ok.all():
        pu, pv, pz, faces = pu[ok], pv[ok], pz[ok], faces[ok]
        du1, dv1, dz1, du2, dv2, dz2, det = (x[ok] for x in (du1, dv1, dz1, du2, dv2, dz2, det))
    alpha = (dz1 * dv2 - dz2 * dv1) / det
    beta = (du1 * dz2 - du2 * dz1) / det
    gamma = pz[:, 0] - alpha * pu[:, 0] - beta * pv[:, 0]

    # Rows of pixel centres each triangle spans.
    order = np.argsort(pv, axis=1)
    su = np.take_along_axis(pu, order, axis=1)
    sv = np.take_along_axis(pv, order, axis=1)
    first = np.maximum(np.ceil(sv[:, 0]), 0).astype(np.int64)
    last = np.minimum(np.floor(sv[:, 2]), h - 1).astype(np.int64)
    rows_per = np.maximum(last - first + 1, 0)
    if rows_per.sum() == 0:
        return None
    tri = np.repeat(np.arange(len(pu)), rows_per)
    row = first[tri] + (np.arange(len(tri)) - np.repeat(np.cumsum(rows_per) - rows_per, rows_per))
    r = row.astype(np.float64)
    # x on the long edge (lowest v → highest v) and on the short edge the row crosses.
    u0, u1, u2 = su[tri, 0], su[tri, 1], su[tri, 2]
    v0, v1, v2 = sv[tri, 0], sv[tri, 1], sv[tri, 2]
    long_edge = u0 + (u2 - u0) * _ratio(r - v0, v2 - v0)
    upper = r < v1
    short_edge = np.where(
        upper, u0 + (u1 - u0) * _ratio(r - v0, v1 - v0), u1 + (u2 - u1) * _ratio(r - v1, v2 - v1)
    )
    left = np.maximum(np.ceil(np.minimum(long_edge, short_edge) - 1e-9), 0).astype(np.int64)
    right = np.minimum(np.floor(np.maximum(long_edge, short_edge) + 1e-9), w - 1).astype(np.int64)
    count = np.maximum(right - left + 1, 0)
    total = int(count.sum())
    if total == 0:
        return None
    span = np.repeat(np.arange(len(tri)), count)
    col = left[span] + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    owner = tri[span]
    rr = row[span]
    height = alpha[owner] * col + beta[owner] * rr + gamma[owner]
    kept = np.nonzero(ok)[0] if not ok.all() else None
    owner = owner if kept is None else kept[owner]
    return rr * w + col, height, owner


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(np.abs(den) > 1e-12, num / np.where(np.abs(den) > 1e-12, den, 1.0), 0.0)


def shaded(heights: HeightMap, *, light: tuple[float, float, float] = (-0.5, 0.5, 1.0)) -> np.ndarray:
    """An 8-bit grey picture of a height map: hill-shaded by its slopes, brighter higher,
    background white — for people to look at what was built."""
    z = heights.height
    seen = ~np.isnan(z)
    out = np.full(z.shape, 255, np.uint8)
    if not seen.any():
        return out
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    filled = np.where(seen, z, low)
    gy, gx = np.gradient(filled, heights.grid.pixel_mm)
    normal = np.dstack([-gx, gy, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    direction = np.asarray(light) / np.linalg.norm(light)
    lit = np.clip(normal @ direction, 0, 1)
    level = (filled - low) / max(high - low, 1e-9)
    grey = 40 + 150 * lit + 60 * level
    out[seen] = np.clip(grey[seen], 0, 255).astype(np.uint8)
    return out
