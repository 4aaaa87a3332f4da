"""``extrude``: the outline traced into polygons and extruded — vertical walls, an exactly flat top
and bottom, an optional chamfered or rounded top edge, on an optional base plate. Name plates and
signs are made this way: crisp at any size, with a few thousand faces.

The outline comes from the highest-resolution coverage there is (the picture's own anti-aliased
alpha at full size, else the subject's mask), is traced and simplified to 0.05 mm at the final size
(:mod:`orfeas.mesh.outline`) and becomes a manifold3d cross-section. :func:`extruded` turns any
cross-section into a solid between two heights; it is the step per-colour parts and maker objects
build on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import cv2
import manifold3d
import numpy as np
import pythoncdt
from scipy import ndimage

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief import colours
from orfeas.engines.relief.grid import Built, Grid, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import contains, contours_of, cross_section, rasterize, rounded_rectangle, trace
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.solids import to_trimesh
from orfeas.settings import Settings

#: The outline follows the picture this closely at the final size (mm): 0.025 — half the 0.05 the
#: design allows, because a simplified convex curve's chords all fall inside it and thin strokes
#: show it — or a fifth of the picture's pixel where that is coarser (at most 0.05).
TOLERANCE_MM = 0.025
#: Longest side of the coverage the outline is traced from.
TRACE_SIDE = 2048
#: Pixels along the longest side of the grid the model is compared with what was meant on.
CHECK_PIXELS = 640
#: Corners sharper than this keep a miter no longer than this many times the edge size.
MITER_LIMIT = 4.0
#: Heights of a fillet's profile between the outline and the flat top, and of a chamfer's where
#: a part is too thin for it (its band then rises to a ridge in these steps).
FILLET_STEPS = 6
CHAMFER_STEPS = 8


def extrude(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    assert found is not None
    on_plate = p.base_mm > 0
    mask, notes = joined_subject(found, p.size_mm, not p.separate_parts and not on_plate)
    if on_plate and notes["parts"] > 1:
        notes["joined_by"] = "the plate"
    subject_mm = p.size_mm - (2 * p.margin_mm if on_plate else 0.0)
    if subject_mm <= 1.0:
        raise InputRejected(
            f"size_mm ({p.size_mm:g} mm) leaves no room inside a {p.margin_mm:g} mm margin.",
            code="invalid_parameter",
            field="margin_mm",
        )
    progress("mesh", 0.0)
    outline = traced_outline(rgba, found, mask, subject_mm)
    section = outline.section
    top = p.base_mm + p.depth_mm
    edge = p.top_edge if p.top_edge != "sharp" else None
    body, edge_mm = extruded(section, 0.0, top, edge=edge, edge_mm=min(p.top_edge_mm, p.depth_mm))
    if edge is not None:
        notes["top_edge_mm"] = round(edge_mm, 3)
    low, high = np.asarray(section.bounds()[:2]), np.asarray(section.bounds()[2:])
    plate_section = None
    if on_plate:
        plate_section = rounded_rectangle(low - p.margin_mm, high + p.margin_mm, p.corner_mm)
        body = body + manifold3d.Manifold.extrude(plate_section, p.base_mm)
        low, high = low - p.margin_mm, high + p.margin_mm
    colouring = None
    if colours.wanted(p):  # the design in its colours, a plate in its own
        whole = Grid((0.0, 0.0, 1.0, 1.0), mask.astype(np.float32))
        count = colours.design_colours(p, on_plate)
        palette, label_grid = colours.picture_palette(rgba, whole, outline.grid, mask, count, p)
        colouring = colours.coloured(body, section, palette, label_grid, p, plate=on_plate, flat_top_mm=top)
        mesh = colouring.union
        notes.update(colouring.notes)
    else:
        mesh = to_trimesh(body)

    # What was meant, on a grid no finer than the picture: the outline's coverage, the flat top
    # lowered by the edge, the plate around it.
    check = outline.check_grid(low, high)
    subject = outline.coverage_on(check)
    height = designed_top(subject, check.pixel_mm, top, edge, edge_mm)
    if plate_section is not None:
        on = rasterize(contours_of(plate_section), check)
        height = np.where(subject, height, np.where(on, p.base_mm, np.nan))
        subject &= on
    if colouring is not None:  # stacked colours stand higher (and on a plate, out of it)
        height = colouring.lifted(height, check)
        if on_plate:
            subject |= (colouring.raised_on(check) > 0) & np.isfinite(height)
    intent = Intent(check, subject, height, plate_mm=p.base_mm if on_plate else None)
    notes["outline_tolerance_mm"] = round(outline.tolerance_mm, 4)
    return finish(
        mesh,
        intent,
        rgba,
        outline.colour_box(check, subject),
        p.size_mm,
        colours="plate" if on_plate else "subject",
        notes=notes,
        parts=colouring.parts if colouring is not None else None,
    )


@dataclass(frozen=True)
class Outline:
    """A picture's subject traced into a cross-section in mm, with the coverage it was traced from
    (``field``, on ``grid``) and the tolerance it was traced to."""

    section: manifold3d.CrossSection
    field: np.ndarray
    grid: PixelGrid
    tolerance_mm: float

    def scaled(self, factor: float) -> Outline:
        """The same outline ``factor`` times as large (about the origin)."""
        x0, y0 = self.grid.origin_mm
        grid = PixelGrid(self.grid.shape, self.grid.pixel_mm * factor, (x0 * factor, y0 * factor))
        return replace(self, section=self.section.scale((factor, factor)), grid=grid)

    def check_grid(self, low: np.ndarray, high: np.ndarray) -> PixelGrid:
        """The grid a model over ``low``–``high`` is compared with what was meant on: about
        :data:`CHECK_PIXELS` along its longest side, no finer than the picture."""
        return PixelGrid.around(low, high, max(float(np.max(high - low)) / CHECK_PIXELS, self.grid.pixel_mm))

    def coverage_on(self, check: PixelGrid) -> np.ndarray:
        """The picture's subject on ``check`` (the intent's own view of it, not the traced polygons)."""
        return sample(self.field, self.grid, check) >= 0.5

    def colour_box(self, check: PixelGrid, subject: np.ndarray) -> Grid:
        """The working grid the picture's colours are laid over ``check`` with."""
        return Grid(_box_in(check, self.grid), subject.astype(np.float32))


def traced_outline(rgba: np.ndarray, found: ForegroundMask, mask: np.ndarray, side_mm: float) -> Outline:
    """The subject (``mask``, the found mask perhaps with bridges) traced into a cross-section whose
    longest side is ``side_mm``, simplified to :data:`TOLERANCE_MM` (no finer than a fifth of the
    picture's pixel, at most 0.05 mm)."""
    field = coverage(rgba, found, mask)
    rows, cols = np.nonzero(field >= 0.5)
    if len(rows) == 0:
        raise InputRejected("The subject is too small to build.", code="no_subject")
    side_px = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    traced = PixelGrid(field.shape, side_mm / side_px, (0.0, field.shape[0] * side_mm / side_px))
    tolerance = float(np.clip(0.2 * traced.pixel_mm, TOLERANCE_MM, 0.05))  # no finer than the picture knows
    section = cross_section(trace(field, traced, tolerance_mm=tolerance))
    if section.is_empty():
        raise InputRejected("The subject is too small to build.", code="no_subject")
    return Outline(section, field, traced, tolerance)


def coverage(rgba: np.ndarray, found: ForegroundMask, mask: np.ndarray) -> np.ndarray:
    """The subject's coverage in [0, 1] at up to :data:`TRACE_SIDE` px: the picture's alpha where it
    is the mask's source (sub-pixel edges), kept to the cleaned mask's parts and holes; else the
    mask itself (``mask`` may carry bridges the found mask has not)."""
    h, w = rgba.shape[:2]
    scale = min(1.0, TRACE_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if found.method != "alpha":
        return cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    alpha = rgba[..., 3] if scale == 1.0 else cv2.resize(rgba[..., 3], size, interpolation=cv2.INTER_AREA)
    alpha = alpha.astype(np.float32) / 255.0
    clean = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    reach = 2 * round(2 * size[0] / mask.shape[1]) + 3  # the alpha ramp and the mask cleaning both fit
    kernel = np.ones((reach, reach), np.uint8)
    band = cv2.dilate(clean, kernel) > cv2.erode(clean, kernel)
    field = np.where(band, alpha, clean.astype(np.float32))
    added = cv2.resize((mask & ~found.mask).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return np.maximum(field, added.astype(np.float32))


def extruded(
    section: manifold3d.CrossSection,
    z0: float,
    z1: float,
    *,
    edge: str | None = None,
    edge_mm: float = 0.0,
) -> tuple[manifold3d.Manifold, float]:
    """``section`` as a solid from ``z0`` to ``z1`` with vertical walls and a flat top; ``edge``
    ``"chamfer"`` (45°) or ``"fillet"`` (a quarter circle) of ``edge_mm`` on the top edge. Where the
    shape is too thin for the edge, the edge shrinks until it fits (down to none); the edge size
    built is returned with the solid."""
    if edge is None or edge_mm <= 0:
        return manifold3d.Manifold.extrude(section, z1 - z0).translate((0.0, 0.0, z0)), 0.0
    size = edge_mm
    for _ in range(4):
        solid = _lofted(section, z0, z1, edge, size)
        if solid is not None:
            return solid, size
        size /= 2
    return manifold3d.Manifold.extrude(section, z1 - z0).translate((0.0, 0.0, z0)), 0.0


def sample(field: np.ndarray, source: PixelGrid, target: PixelGrid) -> np.ndarray:
    """``field`` (on ``source``) at the pixel centres of ``target``, bilinear, 0 outside."""
    x, y = target.centres()
    uv = source.to_pixels(np.column_stack([x.ravel(), y.ravel()]))
    if target.pixel_mm > source.pixel_mm * 1.5:  # shrinking: average first, as INTER_AREA would
        field = cv2.GaussianBlur(field, (0, 0), 0.5 * target.pixel_mm / source.pixel_mm)
    out = cv2.remap(
        field.astype(np.float32),
        uv[:, 0].reshape(x.shape).astype(np.float32),
        uv[:, 1].reshape(x.shape).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return out


def designed_top(
    subject: np.ndarray, pixel_mm: float, top: float, edge: str | None, edge_mm: float
) -> np.ndarray:
    """The intended top surface over the subject: flat at ``top``, lowered toward the outline by the
    chamfer or fillet; NaN outside."""
    height = np.full(subject.shape, top, dtype=np.float64)
    if edge is not None and edge_mm > 0:
        # Distance from each pixel centre to the outline, which runs half a pixel outside the last
        # pixel inside.
        inside = (ndimage.distance_transform_edt(np.pad(subject, 1))[1:-1, 1:-1] - 0.5) * pixel_mm
        d = np.clip(inside, 0.0, edge_mm)
        drop = (
            edge_mm - d
            if edge == "chamfer"
            else edge_mm - np.sqrt(np.maximum(edge_mm**2 - (edge_mm - d) ** 2, 0))
        )
        height -= drop
    return np.where(subject, height, np.nan)


def _lofted(
    section: manifold3d.CrossSection, z0: float, z1: float, edge: str, size: float
) -> manifold3d.Manifold | None:
    """The solid with its top edge cut: the outline offset inward (Clipper's miter offsets, which
    stay valid where parts are thin) at each step of the edge's profile, each band between two
    offsets triangulated with both as constraints. ``None`` if that does not close into a solid."""
    if edge == "chamfer":
        # Two rings make an exact 45° band; where parts are thinner than the edge, more rings let
        # the band rise to a ridge instead of stopping flat.
        reopened = section.offset(-size, manifold3d.JoinType.Miter, miter_limit=MITER_LIMIT).offset(
            size, manifold3d.JoinType.Miter, miter_limit=MITER_LIMIT
        )
        count = 1 if reopened.area() >= 0.995 * section.area() else CHAMFER_STEPS
        inset = np.linspace(0.0, size, count + 1)
        steps = np.column_stack([inset, inset])  # (inset, rise) from the bottom of the edge
    else:
        theta = np.linspace(0.0, np.pi / 2, FILLET_STEPS + 1)
        steps = np.column_stack([size * (1 - np.cos(theta)), size * np.sin(theta)])
    rings = [contours_of(section)]
    for inset in steps[1:, 0]:
        ring = contours_of(section.offset(-float(inset), manifold3d.JoinType.Miter, miter_limit=MITER_LIMIT))
        if not ring:
            break  # thinner than the edge everywhere: the last band ends in a ridge
        rings.append(ring)
    heights = [z1 - size + rise for rise in steps[: len(rings), 1]]
    vertices: list[np.ndarray] = []

    def add(loops: list[np.ndarray], z: float) -> list[np.ndarray]:
        start = sum(len(v) for v in vertices)
        flat = np.concatenate(loops)
        vertices.append(np.column_stack([flat, np.full(len(flat), z)]))
        sizes = np.cumsum([0, *[len(c) for c in loops]])
        return [start + np.arange(a, b) for a, b in itertools.pairwise(sizes)]

    floor_ids = add(rings[0], z0)
    level_ids = [add(ring, z) for ring, z in zip(rings, heights, strict=True)]
    faces = [_walls(floor_ids, level_ids[0])]
    faces.append(
        np.concatenate(floor_ids)[np.asarray(manifold3d.triangulate(rings[0]), dtype=np.int64)][:, ::-1]
    )
    for k in range(len(rings) - 1):
        band = _band(rings[k], rings[k + 1])
        if band is None:
            return None
        faces.append(np.concatenate([*level_ids[k], *level_ids[k + 1]])[band])
    faces.append(np.concatenate(level_ids[-1])[np.asarray(manifold3d.triangulate(rings[-1]), dtype=np.int64)])
    mesh = manifold3d.Mesh(
        vert_properties=np.ascontiguousarray(np.concatenate(vertices), dtype=np.float32),
        tri_verts=np.ascontiguousarray(np.concatenate(faces), dtype=np.uint32),
    )
    solid = manifold3d.Manifold(mesh)
    if solid.status() != manifold3d.Error.NoError or solid.volume() <= 0:
        return None
    return solid


def _walls(lower: list[np.ndarray], upper: list[np.ndarray]) -> np.ndarray:
    """Quads between two copies of the same loops (solid on the loops' left)."""
    quads = []
    for a, b in zip(lower, upper, strict=True):
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        quads += [np.column_stack([a, a1, b1]), np.column_stack([a, b1, b])]
    return np.concatenate(quads)


def _band(outer: list[np.ndarray], inner: list[np.ndarray]) -> np.ndarray | None:
    """Triangles (indices into the outer loops' points, then the inner's) filling the region inside
    ``outer`` and outside ``inner``, both sets of loops kept as edges."""
    points = np.concatenate([*outer, *inner])
    sizes = [len(c) for c in (*outer, *inner)]
    starts = np.cumsum([0, *sizes])[:-1]
    edges = np.concatenate(
        [
            s + np.column_stack([np.arange(n), (np.arange(n) + 1) % n])
            for s, n in zip(starts, sizes, strict=True)
        ]
    )
    cdt = pythoncdt.Triangulation(
        pythoncdt.VertexInsertionOrder.AUTO, pythoncdt.IntersectingConstraintEdges.NOT_ALLOWED, 0.0
    )
    try:
        cdt.insert_vertices(np.ascontiguousarray(points, dtype=np.float64))
        cdt.insert_edges(np.ascontiguousarray(edges, dtype=np.uint32))
    except RuntimeError:  # an offset touching the outline: no clean band
        return None
    cdt.erase_super_triangle()
    if cdt.vertices_count() != len(points):
        return None
    triangles = cdt.triangles_array()["vertices"].astype(np.int64)
    centres = points[triangles].mean(axis=1)
    keep = contains(outer, centres) & ~contains(inner, centres)
    return triangles[keep]


def _box_in(check: PixelGrid, traced: PixelGrid) -> tuple[float, float, float, float]:
    """The check grid's frame as fractions (top, left, bottom, right) of the traced field's sides."""
    h, w = check.shape
    x0, y0 = check.origin_mm
    corners = traced.to_pixels(np.array([[x0, y0], [x0 + w * check.pixel_mm, y0 - h * check.pixel_mm]]))
    th, tw = traced.shape
    (left, top), (right, bottom) = corners + 0.5
    return top / th, left / tw, bottom / th, right / tw
