"""Closed solids built from height fields — watertight by construction, within an error bound.

Two shapes cover every relief mode:

* :func:`outline_solid` — a region given by its outline (contours in mm, see
  :mod:`orfeas.mesh.outline`), its top (and optionally its bottom) taken from height fields on a
  pixel grid, vertical walls along the outline (puffy bodies, reliefs, plaques, height maps with
  alpha). The top is a constrained Delaunay triangulation (pythoncdt) of the outline plus interior
  vertices where the field needs them: pydelatin's adaptive triangulation proposes the first set,
  then the worst cell of every triangle still off the field by more than ``max_error_mm`` is added
  until none is (or the face budget is spent). The outline is kept exactly (its segments are
  constrained edges), so no triangle can bridge a gap or run outside the subject; ``creases``
  (a subject's outline on its plate) are kept the same way, and a region without interior
  vertices — the plate around a subject — stays exactly flat.
* :func:`slab` — the whole rectangle with an adaptively triangulated top over a flat back
  (lithophanes, height maps without alpha).

Both use the same wall rule: for a top edge traversed ``u → v`` (the solid on its left) the wall
quad is ``(v_top, u_top, u_bottom), (v_top, u_bottom, v_bottom)``, which keeps the winding
consistent with the top.
"""

from __future__ import annotations

import numpy as np
import pythoncdt
import trimesh
from pydelatin import Delatin
from scipy import ndimage
from scipy.spatial import cKDTree

from orfeas.mesh.fidelity import within_a_pixel
from orfeas.mesh.outline import rasterize
from orfeas.mesh.raster import HeightMap, PixelGrid, height_map

#: Rounds of adding vertices at the worst cells after pydelatin's first proposal (the worst cell of
#: each triangle, or every cell still off once no more than FEW_BAD_CELLS are).
REFINE_ROUNDS = 8
FEW_BAD_CELLS = 64
#: Refinement is settled when no more than this many cells, or this share of them, are still off.
SETTLED_CELLS = 16
SETTLED_SHARE = 0.002
#: By default, while any cell is off by more than this (mm), refinement may spend up to OVERRUN
#: times the face budget: the budget is a target, the surface's faithfulness is the requirement.
HARD_ERROR_MM = 0.12
OVERRUN = 3
#: ... and at least this many interior vertices, however small the budget.
OVERRUN_FLOOR = 2_000


def outline_solid(
    outline: list[np.ndarray],
    grid: PixelGrid,
    front: np.ndarray,
    *,
    back: np.ndarray | None = None,
    front_edge: float | None = None,
    back_edge: float = 0.0,
    creases: list[np.ndarray] | tuple[np.ndarray, ...] = (),
    crease_z: float | None = None,
    refine: np.ndarray | None = None,
    max_error_mm: float,
    max_faces: int,
    hard_error_mm: float = HARD_ERROR_MM,
) -> trimesh.Trimesh:
    """A closed solid over the region inside ``outline`` (even-odd), seen from above.

    ``front`` (and ``back``, or a flat bottom at ``back_edge``) are cell heights in mm on
    ``grid``; along the outline the wall runs from ``back_edge`` to ``front_edge`` (``None``: the
    front of the nearest cell in ``refine``). ``creases`` must lie inside a single outer contour
    without holes (a plate); their vertices stand at ``crease_z``. Interior vertices go only on
    cells of ``refine`` (default: wherever ``front`` is finite).

    The top stays within ``max_error_mm`` of the field as far as ``max_faces`` allows; while some
    cell is still more than ``hard_error_mm`` off, it may take up to :data:`OVERRUN` times as many.
    """
    w = grid.shape[1]
    refine = np.isfinite(front) if refine is None else refine & np.isfinite(front)
    contours = [c for c in outline if len(c) >= 3]
    crease_list = [c for c in creases if len(c) >= 3]
    edge_xy, edges, first_crease = _constraints(contours, crease_list)
    edge_z = np.empty(len(edge_xy))
    if front_edge is None:
        edge_z[:] = _nearest_values(front, refine, grid, edge_xy)
    else:
        edge_z[:] = front_edge
    if crease_list:
        edge_z[first_crease:] = (
            crease_z if crease_z is not None else _nearest_values(front, refine, grid, edge_xy[first_crease:])
        )
    back_edge_z = np.full(len(edge_xy), back_edge)

    # Interior vertices go on cells whose centres lie inside the outline (on a plate: inside the
    # subject's crease, so the plate keeps no vertex of its own).
    candidates = refine & rasterize(contours, grid)
    if crease_list:
        candidates &= rasterize(crease_list, grid)
    # A cell centre on a constraint vertex would be the same vertex twice.
    cols, rows = _cells_at(grid, edge_xy)
    candidates[rows, cols] = False
    front_filled = _filled(front, refine)
    back_filled = None if back is None else _filled(back, refine)
    surfaces = 2 if back is not None else 1
    # Triangles the top may have (walls take two per outline edge, a flat bottom about one), and
    # the interior vertices that buys: a triangulation has about 2 V − E triangles.
    top_budget = max(100, (max_faces - 3 * len(edge_xy)) // surfaces)
    interior_budget = max(16, (top_budget - len(edge_xy)) // 2)
    # Cells along the outline that stand off the outline's own height get a vertex: a height field
    # can rise steeply right there (a puffy body's rim, a relief's shoulder), and only the cell
    # itself knows how far. Then pydelatin's proposals; what is left of the budget goes to the
    # worst cells, round by round.
    ring = candidates & ~ndimage.binary_erosion(candidates, iterations=1)
    ring_cells = _steep_rim(
        np.argwhere(ring), front_filled, edge_xy, edge_z, grid, max_error_mm, int(0.3 * interior_budget)
    )
    proposed = _proposed_cells(
        front_filled, candidates & ~ring, max_error_mm, max(8, int(0.5 * interior_budget))
    )
    cells = np.concatenate([ring_cells, proposed])
    n_candidates = int(candidates.sum())

    for round_ in range(REFINE_ROUNDS + 1):
        xy, tri = _triangulate(edge_xy, edges, _cell_centres(grid, cells), holes=not crease_list)
        top_z = _heights(edge_z, front_filled, cells, grid, xy)
        sides = [(_surface(xy, top_z, tri, grid, front_filled), front_filled)]
        if back_filled is not None:
            back_z = _heights(back_edge_z, back_filled, cells, grid, xy)
            sides.append((_surface(xy, back_z, tri, grid, back_filled), back_filled))
        found = [
            _worst_cells(seen, approx, field, candidates, max_error_mm) for (seen, approx), field in sides
        ]
        worst = np.concatenate([f[0] for f in found])
        error = np.concatenate([f[1] for f in found])
        fresh = ~np.isin(worst, cells[:, 0] * w + cells[:, 1])
        worst, error = worst[fresh], error[fresh]
        # Done when nothing is off, or when what is left is a few cells and well inside the bound
        # verification holds the model to: more rounds would polish what nobody sees. Past the
        # budget only while something is still off by more than the hard limit: the face count is
        # a target, the surface's faithfulness is the requirement. (Judging as fidelity does
        # costs two filters per surface, so it is done only when it decides something.)
        room = interior_budget - len(cells)
        few = len(worst) <= max(SETTLED_CELLS, SETTLED_SHARE * n_candidates)
        if few or room <= 0:
            judged = max(
                max(_judged(approx, field, candidates), _judged(field, approx, candidates))
                for (_, approx), field in sides
            )
            if few and judged <= hard_error_mm / 2:
                break
            if room <= 0 and judged > hard_error_mm:
                room = max(OVERRUN * interior_budget, OVERRUN_FLOOR) - len(cells)
        if len(worst) == 0 or room <= 0 or round_ == REFINE_ROUNDS:
            break
        worst = np.unique(worst[np.argsort(-error)][:room])
        cells = np.concatenate([cells, np.column_stack([worst // w, worst % w])])

    n = len(xy)
    top = np.column_stack([xy, top_z])
    u, v = _boundary_edges(tri)
    if back_filled is not None:
        bottom = np.column_stack([xy, _heights(back_edge_z, back_filled, cells, grid, xy)])
        bottom_faces = tri[:, ::-1] + n
        bottom_id = np.arange(n) + n
    else:
        # A flat bottom needs only the outline's vertices.
        ring = np.unique(np.concatenate([u, v]))
        bottom_id = np.full(n, -1, dtype=np.int64)
        bottom_id[ring] = n + np.arange(len(ring))
        bottom = np.column_stack([xy[ring], np.full(len(ring), back_edge)])
        flat = _triangulate_outline(xy, u, v)
        bottom_faces = bottom_id[flat[:, ::-1]]
    walls = np.concatenate(
        [np.column_stack([v, u, bottom_id[u]]), np.column_stack([v, bottom_id[u], bottom_id[v]])]
    )
    vertices = np.concatenate([top, bottom])
    faces = np.concatenate([tri, bottom_faces, walls])
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True  # interior points the triangulation left outside are dropped
    return trimesh.Trimesh(vertices[used], (np.cumsum(used) - 1)[faces], process=False)


def slab(top: np.ndarray, pixel_mm: float, *, max_error_mm: float, max_triangles: int) -> trimesh.Trimesh:
    """A closed rectangular solid: adaptive triangulation of ``top`` (mm, row 0 = +y) over z = 0.

    ``max_triangles`` counts the whole solid: the walls and the back along the border take their
    share of it first. ``mesh.metadata["max_error_mm"]`` says how close the top came to ``top``."""
    h, w = top.shape
    border = 2 * (h + w)
    field = np.ascontiguousarray(top, dtype=np.float32)
    tin = Delatin(field, max_error=max_error_mm, max_triangles=max(2_000, max_triangles - 3 * border))
    points = np.asarray(tin.vertices, dtype=np.float64)
    faces = np.asarray(tin.triangles, dtype=np.int64)
    # pydelatin's y runs up the picture (its y = h − 1 − row), as ours does.
    xy = points[:, :2]
    z = top[(h - 1) - points[:, 1].astype(int), points[:, 0].astype(int)].astype(np.float64)
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
    mesh = trimesh.Trimesh(vertices, np.concatenate([faces, walls, back]), process=False)
    mesh.metadata["max_error_mm"] = float(tin.error)  # how far the top is from ``top`` at worst
    return mesh


def distance_inside(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance (in cells) from each foreground cell to the nearest background cell."""
    return ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]


# --- outline_solid's steps ------------------------------------------------------------------------


def _constraints(contours: list[np.ndarray], creases: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """All constraint vertices (outline first, then creases), their closed-loop edges, and the index
    of the first crease vertex. Exact repeats (contours touching at a point) are nudged apart."""
    loops = [*contours, *creases]
    xy = np.concatenate(loops).astype(np.float64)
    sizes = np.array([len(c) for c in loops])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    local = np.concatenate([np.arange(s) for s in sizes])
    start = np.repeat(starts, sizes)
    edges = np.column_stack([start + local, start + (local + 1) % np.repeat(sizes, sizes)])
    _, first, counts = np.unique(xy, axis=0, return_index=True, return_counts=True)
    if np.any(counts > 1):
        seen = np.zeros(len(xy), dtype=bool)
        seen[first] = True
        xy[~seen] += 1e-6  # a touching point becomes two points a micrometre apart
    return xy, edges.astype(np.uint32), int(sum(len(c) for c in contours))


def _filled(field: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``field`` with every cell outside ``where`` set to the nearest cell inside (no cliffs)."""
    if where.all() or not where.any():
        return np.where(np.isfinite(field), field, 0.0)
    _, (ri, ci) = ndimage.distance_transform_edt(~where, return_indices=True)
    return field[ri, ci]


def _nearest_values(field: np.ndarray, where: np.ndarray, grid: PixelGrid, xy: np.ndarray) -> np.ndarray:
    """The field of the ``where`` cell nearest to each point."""
    filled = _filled(field, where)
    cols, rows = _cells_at(grid, xy)
    return filled[rows, cols]


def _cells_at(grid: PixelGrid, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uv = grid.to_pixels(xy)
    cols = np.clip(np.rint(uv[:, 0]).astype(np.int64), 0, grid.shape[1] - 1)
    rows = np.clip(np.rint(uv[:, 1]).astype(np.int64), 0, grid.shape[0] - 1)
    return cols, rows


def _proposed_cells(
    field: np.ndarray, candidates: np.ndarray, max_error_mm: float, max_points: int
) -> np.ndarray:
    """Cells (row, col) pydelatin's adaptive triangulation of ``field`` (at most ``max_points``
    vertices, the worst places first) puts vertices on."""
    if not candidates.any():
        return np.zeros((0, 2), dtype=np.int64)
    tin = Delatin(
        np.ascontiguousarray(field, dtype=np.float32), max_error=max_error_mm, max_points=max_points
    )
    points = np.asarray(tin.vertices)
    cols = points[:, 0].astype(np.int64)
    rows = (field.shape[0] - 1) - points[:, 1].astype(np.int64)  # pydelatin's y runs up
    keep = candidates[rows, cols]
    return np.column_stack([rows[keep], cols[keep]])


def _steep_rim(
    ring: np.ndarray,
    field: np.ndarray,
    edge_xy: np.ndarray,
    edge_z: np.ndarray,
    grid: PixelGrid,
    max_error_mm: float,
    most: int,
) -> np.ndarray:
    """The outline cells (row, col) whose height stands off the nearest outline vertex's by more
    than the bound, thinned to one per k × k block (k = 2, or more until at most ``most`` are
    left): along the outline the rim changes slowly."""
    if len(ring) == 0:
        return ring
    _, nearest = cKDTree(edge_xy).query(_cell_centres(grid, ring))
    ring = ring[np.abs(field[ring[:, 0], ring[:, 1]] - edge_z[nearest]) > max_error_mm]
    block = 2
    while True:
        _, first = np.unique((ring[:, 0] // block) * grid.shape[1] + ring[:, 1] // block, return_index=True)
        if len(first) <= max(most, 0) or block >= 64:
            return ring[np.sort(first)][: max(most, 0)]
        block += 1


def _cell_centres(grid: PixelGrid, cells: np.ndarray) -> np.ndarray:
    x0, y0 = grid.origin_mm
    return np.column_stack(
        [x0 + (cells[:, 1] + 0.5) * grid.pixel_mm, y0 - (cells[:, 0] + 0.5) * grid.pixel_mm]
    )


def _triangulate(
    edge_xy: np.ndarray, edges: np.ndarray, interior: np.ndarray, *, holes: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Constrained Delaunay triangulation of the constraint loops plus ``interior`` points; only the
    triangles inside the outline (even-odd when ``holes``, else inside the outermost loop)."""
    points = np.ascontiguousarray(np.concatenate([edge_xy, interior]), dtype=np.float64)
    cdt = pythoncdt.Triangulation(
        pythoncdt.VertexInsertionOrder.AUTO, pythoncdt.IntersectingConstraintEdges.TRY_RESOLVE, 0.0
    )
    cdt.insert_vertices(points)
    cdt.insert_edges(np.ascontiguousarray(edges))
    if holes:
        cdt.erase_outer_triangles_and_holes()
    else:
        cdt.erase_outer_triangles()
    vertices = cdt.vertices_array()
    xy = np.column_stack([vertices["x"], vertices["y"]])
    return xy, cdt.triangles_array()["vertices"].astype(np.int64)


def _heights(
    edge_z: np.ndarray, field: np.ndarray, cells: np.ndarray, grid: PixelGrid, xy: np.ndarray
) -> np.ndarray:
    """Vertex heights: the constraint vertices' own, the field at interior cells, and the field
    sampled for any vertex the triangulation added where constraints crossed."""
    z = np.empty(len(xy))
    ne, ni = len(edge_z), len(cells)
    z[:ne] = edge_z
    z[ne : ne + ni] = field[cells[:, 0], cells[:, 1]]
    if len(xy) > ne + ni:
        cols, rows = _cells_at(grid, xy[ne + ni :])
        z[ne + ni :] = field[rows, cols]
    return z


def _surface(
    xy: np.ndarray, z: np.ndarray, tri: np.ndarray, grid: PixelGrid, field: np.ndarray
) -> tuple[HeightMap, np.ndarray]:
    """The triangulated surface seen on the grid, and its height per cell (the field's own where
    no triangle is)."""
    seen = height_map(np.column_stack([xy, z]), tri, grid)
    return seen, np.where(seen.covered, seen.height, field)


def _worst_cells(
    seen: HeightMap, approx: np.ndarray, field: np.ndarray, candidates: np.ndarray, max_error_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """The worst cell of each triangle that is off the field by more than the bound (all of them
    once few are left): (flat indices, their errors)."""
    error = np.abs(approx - field)
    bad = candidates & (error > max_error_mm)
    if not bad.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    flat = np.nonzero(bad.ravel())[0]
    if len(flat) <= FEW_BAD_CELLS:  # the last few: all of them, so the rounds end
        return flat, error.ravel()[flat]
    owner = seen.face.ravel()[flat]
    order = np.lexsort((-error.ravel()[flat], owner))
    owner_sorted = owner[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner_sorted[1:] != owner_sorted[:-1]
    return flat[order[first]], error.ravel()[flat[order[first]]]


def _judged(source: np.ndarray, target: np.ndarray, where: np.ndarray) -> float:
    """The worst one-way deviation, as :mod:`orfeas.mesh.fidelity` measures it, over ``where``."""
    distance, _ = within_a_pixel(source, where, np.where(where, target, np.nan))
    return float(distance.max(initial=0.0))


def _triangulate_outline(xy: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Triangles (indices into ``xy``) filling the region whose directed boundary is ``u → v``."""
    ring = np.unique(np.concatenate([u, v]))
    local = np.full(len(xy), -1, dtype=np.int64)
    local[ring] = np.arange(len(ring))
    cdt = pythoncdt.Triangulation(
        pythoncdt.VertexInsertionOrder.AUTO, pythoncdt.IntersectingConstraintEdges.NOT_ALLOWED, 0.0
    )
    cdt.insert_vertices(np.ascontiguousarray(xy[ring], dtype=np.float64))
    cdt.insert_edges(np.ascontiguousarray(np.column_stack([local[u], local[v]]), dtype=np.uint32))
    cdt.erase_outer_triangles_and_holes()
    return ring[cdt.triangles_array()["vertices"].astype(np.int64)]


def _signed_area_sum(xy: np.ndarray, faces: np.ndarray) -> float:
    p0, p1, p2 = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    cross = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    return float(cross.sum())


def _boundary_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directed edges (u → v) of a triangulated region that belong to one triangle only."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1 if len(faces) else 1
    key = np.minimum(edges[:, 0], edges[:, 1]) * n + np.maximum(edges[:, 0], edges[:, 1])
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    alone = np.ones(len(key), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    alone[1:] &= ~same
    alone[:-1] &= ~same
    single = order[alone]
    return edges[single, 0], edges[single, 1]
