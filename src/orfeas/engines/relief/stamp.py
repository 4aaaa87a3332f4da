"""``stamp``: the design mirrored (so it prints the right way round), raised ``depth_mm`` on a
block with rounded corners, with a grip on its back — one piece, printed as it is built: the grip
on the bed, the design up.

The grip is a knob the shape of the block, smaller, flaring out at 45° to the block so it prints
without supports. Lines of the design narrower than ``min_line_mm`` would neither print nor ink:
they are thickened to it — a disc of that width along the middle of each thin stroke — and the
report says how much was.
"""

from __future__ import annotations

from dataclasses import replace

import manifold3d
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.extrude import Outline, extruded, to_trimesh, traced_outline
from orfeas.engines.relief.grid import Built, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import contours_of, cross_section, densified, rasterize, rounded_rectangle, trace
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

#: Height of the knob's straight part (mm), and its narrower side at least (mm) or this share of
#: the block's narrower side.
KNOB_MM = 12.0
KNOB_MIN_MM = 12.0
KNOB_SHARE = 0.4
#: Strokes are measured for thickening on a raster this many times finer than ``min_line_mm``.
LINE_PIXELS = 6
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
