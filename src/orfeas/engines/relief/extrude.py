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

import cv2
import manifold3d
import numpy as np
import trimesh
from scipy import ndimage

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Built, Grid, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import contours_of, cross_section, rasterize, rounded_rectangle, trace
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

#: The outline follows the picture this closely at the final size (mm; at most 0.05 by design —
#: half that, because a simplified convex curve's chords all fall inside it and thin strokes show it).
TOLERANCE_MM = 0.025
#: Longest side of the coverage the outline is traced from.
TRACE_SIDE = 2048
#: Finest and coarsest pixel the fidelity check compares the model on (mm, and per longest side).
CHECK_PIXELS = 640
#: Corners sharper than this keep a miter no longer than this many times the edge size.
MITER_LIMIT = 4.0
#: Heights of a fillet's profile between the outline and the flat top.
FILLET_STEPS = 6


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
    field = coverage(rgba, found, mask)
    rows, cols = np.nonzero(field >= 0.5)
    if len(rows) == 0:
        raise InputRejected("The subject is too small to build.", code="no_subject")
    side_px = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    subject_mm = p.size_mm - (2 * p.margin_mm if on_plate else 0.0)
    if subject_mm <= 1.0:
        raise InputRejected(
            f"size_mm ({p.size_mm:g} mm) leaves no room inside a {p.margin_mm:g} mm margin.",
            code="invalid_parameter",
            field="margin_mm",
        )
    traced = PixelGrid(field.shape, subject_mm / side_px, (0.0, field.shape[0] * subject_mm / side_px))

    progress("mesh", 0.0)
    section = cross_section(trace(field, traced, tolerance_mm=TOLERANCE_MM))
    if section.is_empty():
        raise InputRejected("The subject is too small to build.", code="no_subject")
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
    mesh = to_trimesh(body)

    check = PixelGrid.around(
        low,
        high,
        max(float(np.ptp(np.column_stack([low, high]), axis=1).max()) / CHECK_PIXELS, traced.pixel_mm),
    )
    subject = sample(field, traced, check) >= 0.5
    height = designed_top(subject, check.pixel_mm, top, edge, edge_mm)
    if plate_section is not None:
        on = rasterize(contours_of(plate_section), check)
        height = np.where(subject, height, np.where(on, p.base_mm, np.nan))
        subject &= on
    intent = Intent(check, subject, height, plate_mm=p.base_mm if on_plate else None)
    colours_box = Grid(_box_in(check, traced), subject.astype(np.float32))
    notes["outline_tolerance_mm"] = TOLERANCE_MM
    return finish(
        mesh, intent, rgba, colours_box, p.size_mm, colours="plate" if on_plate else "subject", notes=notes
    )


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
    reach = max(3, 2 * round(size[0] / mask.shape[1]) + 1)
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


def to_trimesh(solid: manifold3d.Manifold) -> trimesh.Trimesh:
    """A manifold3d solid as a trimesh (positions only)."""
    mesh = solid.to_mesh()
    vertices = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
    return trimesh.Trimesh(vertices, np.asarray(mesh.tri_verts, dtype=np.int64), process=False)


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
    """The solid with its top edge cut: rings of the outline moved inward (miter offsets) up the
    edge's profile. ``None`` when the moved outline would cross itself (a part thinner than the
    edge) or the result is not a valid solid."""
    if edge == "chamfer":
        steps = np.array([[0.0, 0.0], [size, size]])  # (inset, rise) from the bottom of the edge
    else:
        theta = np.linspace(0.0, np.pi / 2, FILLET_STEPS + 1)
        steps = np.column_stack([size * (1 - np.cos(theta)), size * np.sin(theta)])
    contours = contours_of(section)
    bands = [_inward(c) for c in contours]
    inset_top = [c + size * b for c, b in zip(contours, bands, strict=True)]
    expected = section.offset(-size, manifold3d.JoinType.Miter, miter_limit=MITER_LIMIT).area()
    moved = cross_section(inset_top)
    # A moved outline that crosses itself or another changes the filled area: refuse it.
    signed = sum(_signed_area(c) for c in inset_top)
    if (
        moved.is_empty()
        or abs(moved.area() - signed) > 1e-3 * section.area()
        or abs(signed - expected) > 0.02 * section.area()
    ):
        return None
    rings = [(z0, np.zeros(1))] + [(z1 - size + rise, np.full(1, inset)) for inset, rise in steps]
    vertices, faces, offset = [], [], 0
    ring_ids: list[list[np.ndarray]] = []
    for z, inset in rings:
        ids = []
        for contour, band in zip(contours, bands, strict=True):
            points = contour + inset[0] * band
            vertices.append(np.column_stack([points, np.full(len(points), z)]))
            ids.append(offset + np.arange(len(points)))
            offset += len(points)
        ring_ids.append(ids)
    for lower, upper in itertools.pairwise(ring_ids):
        for a, b in zip(lower, upper, strict=True):
            a1, b1 = np.roll(a, -1), np.roll(b, -1)
            faces.append(np.column_stack([a, a1, b1]))
            faces.append(np.column_stack([a, b1, b]))
    bottom = np.asarray(manifold3d.triangulate(contours), dtype=np.int64)
    top = np.asarray(manifold3d.triangulate(inset_top), dtype=np.int64)
    bottom_ids = np.concatenate(ring_ids[0])
    top_ids = np.concatenate(ring_ids[-1])
    faces.append(bottom_ids[bottom][:, ::-1])
    faces.append(top_ids[top])
    mesh = manifold3d.Mesh(
        vert_properties=np.ascontiguousarray(np.concatenate(vertices), dtype=np.float32),
        tri_verts=np.ascontiguousarray(np.concatenate(faces), dtype=np.uint32),
    )
    solid = manifold3d.Manifold(mesh)
    if solid.status() != manifold3d.Error.NoError or solid.volume() <= 0:
        return None
    return solid


def _inward(contour: np.ndarray) -> np.ndarray:
    """Per vertex, the miter vector that moves the contour's edges a unit distance to their left
    (inside the solid: outer contours run counter-clockwise, holes clockwise)."""
    d_next = np.roll(contour, -1, axis=0) - contour
    d_prev = contour - np.roll(contour, 1, axis=0)
    n_next = np.column_stack([-d_next[:, 1], d_next[:, 0]])
    n_prev = np.column_stack([-d_prev[:, 1], d_prev[:, 0]])
    n_next /= np.maximum(np.linalg.norm(n_next, axis=1, keepdims=True), 1e-12)
    n_prev /= np.maximum(np.linalg.norm(n_prev, axis=1, keepdims=True), 1e-12)
    # m·n_prev = m·n_next = 1 for m = 2 (n_prev + n_next) / |n_prev + n_next|².
    bisector = n_next + n_prev
    miter = 2 * bisector / np.maximum(np.sum(bisector * bisector, axis=1, keepdims=True), 1e-12)
    length = np.linalg.norm(miter, axis=1, keepdims=True)
    return miter * np.minimum(1.0, MITER_LIMIT / np.maximum(length, 1e-12))


def _signed_area(contour: np.ndarray) -> float:
    x, y = contour[:, 0], contour[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _box_in(check: PixelGrid, traced: PixelGrid) -> tuple[float, float, float, float]:
    """The check grid's frame as fractions (top, left, bottom, right) of the traced field's sides."""
    h, w = check.shape
    x0, y0 = check.origin_mm
    corners = traced.to_pixels(np.array([[x0, y0], [x0 + w * check.pixel_mm, y0 - h * check.pixel_mm]]))
    th, tw = traced.shape
    (left, top), (right, bottom) = corners + 0.5
    return top / th, left / tw, bottom / th, right / tw
