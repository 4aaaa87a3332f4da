"""``stamp`` (and a cookie cutter's imprint stamp): the design mirrored (so it prints the right
way round), raised ``depth_mm`` on a block with rounded corners, with a grip on its back — one
piece, printed as it is built: the grip on the bed, the design up.

The grip is a knob the shape of the block, smaller, flaring out at 45° to the block so it prints
without supports. Lines of the design narrower than ``min_line_mm`` would neither print nor ink:
they are thickened to it — a disc of that width along the middle of each thin stroke — and the
report says how much was.

:func:`imprint` is the stamp that goes with a cookie cutter: a block the cookie's shape, a little
smaller so it slides inside the cutter, the picture's inner lines raised on it (mirrored), and
the same knob.
"""

from __future__ import annotations

from dataclasses import replace

import manifold3d
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.extrude import MITER_LIMIT, Outline, extruded, traced_outline
from orfeas.engines.relief.grid import Built, Grid, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import contours_of, cross_section, densified, rasterize, rounded_rectangle, trace
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.solids import to_trimesh
from orfeas.settings import Settings

#: Height of the knob's straight part (mm), and its narrower side at least (mm) or this share of
#: the block's narrower side.
KNOB_MM = 12.0
KNOB_MIN_MM = 12.0
KNOB_SHARE = 0.4
#: Strokes are measured for thickening on a raster this many times finer than ``min_line_mm``.
LINE_PIXELS = 6
#: An imprint stamp: its block is this much inside the cutting line all round, its lines keep this
#: far from the block's edge and stand this high; the skirt to its knob reaches in at most this
#: far; it needs at least this share of its inside free of lines (mm, or a share).
IMPRINT_CLEARANCE_MM = 0.6
IMPRINT_EDGE_MM = 1.5
IMPRINT_DEPTH_MM = 2.0
IMPRINT_SKIRT_MM = 10.0
IMPRINT_MIN_SHARE = 0.03
#: Edges shorter than this are collapsed (mm); outline vertices closer than this to their
#: neighbours' line are dropped.
WELD_MM = 1e-3
SLIVER_MM = 0.01
KNOB_INSET_MM = 0.3
#: Segments of rounded offsets per full circle.
CIRCLE_SEGMENTS = 64


def stamp(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    assert found is not None
    side = p.size_mm - 2 * p.margin_mm
    if side <= 2.0:
        raise InputRejected(
            f"size_mm ({p.size_mm:g} mm) leaves no room inside a {p.margin_mm:g} mm margin.",
            code="invalid_parameter",
            field="margin_mm",
        )
    # Mirrored from the start: the outline, its coverage and the colours all read as the print will.
    rgba = np.ascontiguousarray(rgba[:, ::-1])
    found = replace(found, mask=np.ascontiguousarray(found.mask[:, ::-1]))
    mask, notes = joined_subject(found, p.size_mm, False)
    progress("mesh", 0.0)
    outline, thickened = thickened_lines(traced_outline(rgba, found, mask, side), p.min_line_mm)
    notes.update(thickened)
    notes["mirrored"] = True
    design = outline.section
    low, high = np.asarray(design.bounds()[:2]), np.asarray(design.bounds()[2:])
    block = rounded_rectangle(low - p.margin_mm, high + p.margin_mm, p.corner_mm)
    block_low = 0.0
    solid = manifold3d.Manifold()
    if p.grip == "knob":
        solid, block_low = _grip(block)
        notes["grip_mm"] = round(block_low, 2)
    block_top = block_low + max(p.base_mm, 0.0)
    if p.base_mm > 0:
        solid = solid + manifold3d.Manifold.extrude(block, p.base_mm).translate((0.0, 0.0, block_low))
    raised, _ = extruded(design, block_top, block_top + p.depth_mm)
    solid = solid + raised
    mesh = to_trimesh(solid)

    # What was meant, seen from above: the mirrored (thickened) design raised on the block; the grip
    # is under the block, out of sight.
    b = block.bounds()
    check = outline.check_grid(np.asarray(b[:2]), np.asarray(b[2:]))
    check = PixelGrid.around(np.asarray(b[:2]), np.asarray(b[2:]), min(check.pixel_mm, p.min_line_mm / 4))
    subject = outline.coverage_on(check)
    on = rasterize(contours_of(block), check)
    height = np.where(subject, block_top + p.depth_mm, np.where(on, block_top, np.nan))
    plate = block_top if p.base_mm > 0 else None
    intent = Intent(check, subject & on if plate is not None else subject, height, plate_mm=plate)
    span = float(np.max(mesh.bounds[1, :2] - mesh.bounds[0, :2]))
    return finish(mesh, intent, rgba, outline.colour_box(check, subject), span, colours="plate", notes=notes)


def imprint(rgba: np.ndarray, found: ForegroundMask, p: ReliefParameters) -> Built:
    """A cutter's imprint stamp: the cutting line (as the cutter has it) inset by
    :data:`IMPRINT_CLEARANCE_MM` as its block, the subject inside it, away from the edge by
    :data:`IMPRINT_EDGE_MM`, raised ``IMPRINT_DEPTH_MM`` on it — all mirrored, and thickened where
    thinner than ``min_line_mm`` — with a knob flaring out to the block at 45°."""
    from orfeas.engines.relief.cutter import cutter_outline  # here: cutter imports this module

    outline, line, notes = cutter_outline(rgba, found, p)
    notes.pop("inner_lines", None)  # they are what this piece is for
    rounded = {"join_type": manifold3d.JoinType.Round, "circular_segments": CIRCLE_SEGMENTS}
    # Offsets of offsets leave vertices a hair apart, which would triangulate into slivers.
    block = line.offset(-IMPRINT_CLEARANCE_MM, **rounded).mirror((1.0, 0.0)).simplify(SLIVER_MM)
    inner = block.offset(-IMPRINT_EDGE_MM, **rounded)
    lines = outline.section.mirror((1.0, 0.0)) ^ inner
    if block.is_empty() or (inner - lines).area() < IMPRINT_MIN_SHARE * inner.area():
        raise InputRejected(
            "The picture has no inner lines to imprint (its inside is all one shape): make the cutter alone.",
            code="invalid_parameter",
            field="cutter_part",
        )
    drawn, thickened = thickened_lines(
        Outline(lines, outline.field, outline.grid, outline.tolerance_mm), p.min_line_mm
    )
    notes.update(thickened)
    lines = (drawn.section ^ inner).simplify(SLIVER_MM)
    base = max(p.base_mm, 2.0)
    body, block_top, grip = _imprint_back(block, base, p.grip == "knob")
    notes["grip"] = grip
    if grip.startswith("flat:"):
        notes.setdefault("warnings", []).append(  # type: ignore[union-attr]
            "The imprint stamp has a flat back (press on it): its shape is too spread out for a knob "
            "that prints without supports."
        )
    raised, _ = extruded(lines, block_top, block_top + IMPRINT_DEPTH_MM)
    solid = (body + raised).simplify(WELD_MM)
    mesh = to_trimesh(solid)
    notes.update({"part": "imprint", "mirrored": True, "clearance_mm": IMPRINT_CLEARANCE_MM})

    b = block.bounds()
    check = PixelGrid.around(np.asarray(b[:2]), np.asarray(b[2:]), min(0.25, p.min_line_mm / 4))
    subject = rasterize(contours_of(lines), check)
    on = rasterize(contours_of(block), check)
    height = np.where(subject, block_top + IMPRINT_DEPTH_MM, np.where(on, block_top, np.nan))
    intent = Intent(check, subject & on, height, plate_mm=block_top)
    span = float(np.max(mesh.bounds[1, :2] - mesh.bounds[0, :2]))
    colour = Grid(_mirrored_box(outline, check), subject.astype(np.float32))
    return finish(
        mesh, intent, np.ascontiguousarray(rgba[:, ::-1]), colour, span, colours="plate", notes=notes
    )


def _imprint_back(
    block: manifold3d.CrossSection, base: float, knob: bool
) -> tuple[manifold3d.Manifold, float, str]:
    """The imprint stamp's block ``base`` thick, on a knob when asked and the shape allows, and the
    height of its top. The knob is the block's shape inset most of the way to its widest point,
    under a skirt flaring out at 45° to the block (an extrusion whose top edge is cut at 45° — the
    cut follows any outline — turned over). Where that inset falls apart into pieces (lettering,
    a shape with lobes), some lobe would hang in the air: the block lies flat on the bed instead."""
    if knob:
        reach = min(IMPRINT_SKIRT_MM, 0.8 * _widest(block))
        turned, cut = extruded(block, 0.0, reach + base, edge="chamfer", edge_mm=reach)
        # The knob a little inside the skirt's foot, so their outlines never run along each other.
        post = block.offset(
            -cut - KNOB_INSET_MM, manifold3d.JoinType.Round, circular_segments=CIRCLE_SEGMENTS
        )
        post = post.simplify(SLIVER_MM)
        if cut > 0 and len(post.decompose()) == 1 and len(_foot(block, cut).decompose()) == 1:
            top = KNOB_MM + reach + base
            body = turned.mirror((0.0, 0.0, 1.0)).translate((0.0, 0.0, top))
            return body + manifold3d.Manifold.extrude(post, KNOB_MM + 0.5), top, "knob"
    return (
        manifold3d.Manifold.extrude(block, base),
        base,
        "flat" if not knob else "flat: the shape is too spread out for a knob",
    )


def _foot(block: manifold3d.CrossSection, cut: float) -> manifold3d.CrossSection:
    """Where a 45° skirt ``cut`` deep under ``block`` ends (the inset its cut was made to)."""
    return block.offset(-cut, manifold3d.JoinType.Miter, miter_limit=MITER_LIMIT)


def _widest(section: manifold3d.CrossSection) -> float:
    """The radius of the largest circle inside ``section`` (to a quarter of a millimetre)."""
    b = section.bounds()
    grid = PixelGrid.around(np.asarray(b[:2]) - 1, np.asarray(b[2:]) + 1, 0.25)
    return float(ndimage.distance_transform_edt(rasterize(contours_of(section), grid)).max()) * 0.25


def _mirrored_box(outline: Outline, check: PixelGrid) -> tuple[float, float, float, float]:
    """The check grid's frame as fractions of the (mirrored) picture's sides: the traced grid runs
    from x = 0, so mirrored about x = 0 its frame is the same fractions from the right."""
    top, left, bottom, right = outline.colour_box(
        PixelGrid(
            check.shape,
            check.pixel_mm,
            (-check.origin_mm[0] - check.shape[1] * check.pixel_mm, check.origin_mm[1]),
        ),
        np.zeros(check.shape, bool),
    ).box
    return top, 1.0 - right, bottom, 1.0 - left


def thickened_lines(outline: Outline, min_line_mm: float) -> tuple[Outline, dict[str, object]]:
    """``outline`` with its strokes narrower than ``min_line_mm`` thickened to it: on a raster
    :data:`LINE_PIXELS` times finer than the width, a disc ``min_line_mm`` across on every cell of
    a thin stroke's middle (where the distance to its edge peaks); the outline as it was when no
    stroke is thin."""
    low, high = np.asarray(outline.section.bounds()[:2]), np.asarray(outline.section.bounds()[2:])
    pixel = min_line_mm / LINE_PIXELS
    grid = PixelGrid.around(low - min_line_mm, high + min_line_mm, pixel)
    inside = rasterize(contours_of(outline.section), grid)
    depth = ndimage.distance_transform_edt(inside) * pixel  # to the edge, from each cell's centre
    middle = inside & (depth >= ndimage.maximum_filter(depth, size=3) - 1e-9)
    thin = middle & (2 * depth < min_line_mm - pixel)  # a cell's width of slack for the raster
    if not thin.any():
        return outline, {}
    reach = ndimage.distance_transform_edt(~thin) * pixel
    discs = reach <= (min_line_mm - pixel) / 2  # the cells, not their centres, reach that far
    thick = inside | discs
    # The outline stays as traced where it was wide enough: only the discs are added to it.
    section = outline.section + cross_section(
        trace(discs.astype(np.float32), grid, tolerance_mm=outline.tolerance_mm)
    )
    added = section.area() - outline.section.area()
    notes = {
        "thickened": {
            "min_line_mm": min_line_mm,
            "added_mm2": round(float(added), 2),
            "thin_length_mm": round(float(np.count_nonzero(thin)) * pixel, 1),
        },
        "warnings": [
            f"Lines narrower than {min_line_mm:g} mm were thickened to {min_line_mm:g} mm so they print "
            f"({added:.1f} mm² added)."
        ],
    }
    return Outline(section, thick.astype(np.float32), grid, outline.tolerance_mm), notes


def _grip(block: manifold3d.CrossSection) -> tuple[manifold3d.Manifold, float]:
    """The knob under the block — the block's shape, smaller, rising :data:`KNOB_MM`, then flaring
    out at 45° to the block's outline — and the height the block starts at."""
    b = block.bounds()
    narrow = min(b[2] - b[0], b[3] - b[1])
    inset = max(0.0, (narrow - max(KNOB_MIN_MM, KNOB_SHARE * narrow)) / 2)
    if inset <= 0.5:  # a small stamp: the knob is the block's own shape
        return manifold3d.Manifold.extrude(block, KNOB_MM), KNOB_MM
    knob = block.offset(-inset, manifold3d.JoinType.Round, circular_segments=CIRCLE_SEGMENTS)
    # The flare rises as far as the block reaches out past the knob anywhere (its corners reach
    # farther than its sides): no face of the hull is then flatter than 45°.
    reach = _farthest(contours_of(block), contours_of(knob))
    thin = 0.01
    flare = manifold3d.Manifold.batch_hull(
        [
            manifold3d.Manifold.extrude(knob, thin).translate((0.0, 0.0, KNOB_MM - thin)),
            manifold3d.Manifold.extrude(block, thin).translate((0.0, 0.0, KNOB_MM + reach - thin)),
        ]
    )
    return manifold3d.Manifold.extrude(knob, KNOB_MM) + flare, KNOB_MM + reach


def _farthest(outer: list[np.ndarray], inner: list[np.ndarray]) -> float:
    """How far the farthest point of ``outer`` lies from ``inner``'s outline (both densified)."""
    a, b = (np.concatenate(densified(c, 0.1)) for c in (outer, inner))
    return float(cKDTree(b).query(a)[0].max())
