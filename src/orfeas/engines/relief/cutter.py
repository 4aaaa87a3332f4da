"""``cutter``: a cookie cutter — a blade wall along the subject's outer outline, tapering to a
cutting edge, standing on a wider flange for the hand to press on. One piece, printed as it is
built: the flange on the bed, the cutting edge up.

The cutting line is the outline itself (``size_mm`` is its longest side): the blade's inner face
stands on it, so the cookie is the picture's shape, and the wall (``blade_mm``) lies outside it.
The top :data:`TAPER_MM` of the wall slope on the outside from ``blade_mm`` to an :data:`EDGE_MM`
edge. Dough cannot fill what is finer than a cutter can cut, so the outline is simplified first:
notches too narrow for two blade walls are closed, spikes narrower than :data:`MIN_DETAIL_MM` are
cut off, and the report says how much changed. Holes and inner lines are not cut (a cutter follows
the outer outline); separate parts are joined by bridges first. ``cutter_part=imprint`` makes the
second piece instead: a stamp that fits inside the cutter and presses the inner lines into the
cookie (:func:`~orfeas.engines.relief.stamp.imprint`).
"""

from __future__ import annotations

import itertools

import manifold3d
import numpy as np
from scipy import ndimage

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.extrude import (
    CHAMFER_STEPS,
    MITER_LIMIT,
    Outline,
    extruded,
    traced_outline,
)
from orfeas.engines.relief.grid import BRIDGE_MM, Built, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import bridged, contours_of, rasterize
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.solids import to_trimesh
from orfeas.settings import Settings

#: The cutting edge is this thick (mm): about one line of a 0.4 mm nozzle.
EDGE_MM = 0.5
#: Height of the taper from the full blade to the edge (mm).
TAPER_MM = 3.0
#: Spikes of the outline narrower than this are cut off (dough neither fills nor releases them),
#: and notches narrower than two blade walls and this gap are closed (mm).
MIN_DETAIL_MM = 2.0
NOTCH_GAP_MM = 1.0
#: Simplified outlines follow the original this closely (mm), and a change in area this large
#: (mm², or this share) is reported.
SIMPLIFY_MM = 0.05
REPORTED_CHANGE_MM2 = 0.5
REPORTED_CHANGE_SHARE = 0.002
#: Pieces left by cutting off thin details are kept when this large (a share of the largest).
KEPT_PIECE_SHARE = 0.1
#: Edges shorter than this are collapsed (mm).
WELD_MM = 1e-3
#: Segments of the rounded offsets per full circle.
CIRCLE_SEGMENTS = 64


def cutter(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    assert found is not None
    if p.blade_height_mm < p.base_mm + TAPER_MM + 1.0:
        raise InputRejected(
            f"A {p.blade_height_mm:g} mm cutter has no room for its blade above a {p.base_mm:g} mm flange.",
            code="invalid_parameter",
            field="blade_height_mm",
        )
    progress("mesh", 0.0)
    if p.cutter_part == "imprint":
        from orfeas.engines.relief.stamp import imprint  # here: it builds on this module

        return imprint(rgba, found, p)
    outline, line, notes = cutter_outline(rgba, found, p)
    edge, height = min(EDGE_MM, p.blade_mm), p.blade_height_mm
    round_join = {"join_type": manifold3d.JoinType.Round, "circular_segments": CIRCLE_SEGMENTS}

    # The outside of the blade, its top edge cut at 45° from the full wall to the edge, then the cut
    # stretched up to the taper's height; the flange under it; the inside (the cookie) taken out.
    outside = line.offset(p.blade_mm, **round_join)
    solid, cut = extruded(outside, 0.0, height, edge="chamfer", edge_mm=p.blade_mm - edge)
    if cut > 0:  # the cut shrinks where the outline is too intricate for it
        solid = _stretched(solid, height - cut, height, height - TAPER_MM)
    edge = p.blade_mm - cut
    if p.base_mm > 0:
        flange = line.offset(p.blade_mm + p.flange_mm, **round_join)
        solid = solid + manifold3d.Manifold.extrude(flange, p.base_mm)
    solid = solid - manifold3d.Manifold.extrude(line, height + 2.0).translate((0.0, 0.0, -1.0))
    # The cut and the flange meet the wall along the same outlines: the boolean may leave pairs of
    # vertices at one place, which an STL would weld into a pinch. Edges that short are collapsed.
    solid = solid.simplify(WELD_MM)
    mesh = to_trimesh(solid)
    notes.update({"blade_mm": p.blade_mm, "edge_mm": round(edge, 3), "height_mm": height})

    # What was meant, seen from above: nothing inside the cutting line; the edge at the top, the
    # taper falling away outside it, the flange around. The footprint is all edges: it is compared
    # on a grid finer than the blade, whatever the picture's pixel.
    low, high = np.asarray(solid.bounding_box()[:2]), np.asarray(solid.bounding_box()[3:5])
    check = outline.check_grid(low, high)
    check = PixelGrid.around(low, high, min(check.pixel_mm, p.blade_mm / 4))
    inside = rasterize(contours_of(line), check)
    blade = rasterize(contours_of(outside), check) & ~inside
    # The taper rises from the blade's outside to the top edge's inset, between the same mitred
    # insets of the outside the top edge was cut with (where two stretches of blade stand close
    # their outsides merge, and the top between them stays up), in a straight line between each
    # two (the distances to both say how far along a cell is).
    rise = np.ones(check.shape)
    if cut > 0:
        levels = _cut_levels(outside, cut)
        miter = {"join_type": manifold3d.JoinType.Miter, "miter_limit": MITER_LIMIT}
        rings = [rasterize(contours_of(outside.offset(-t * cut, **miter)), check) for t in levels]
        rise = np.zeros(check.shape)
        for (t0, r0), (t1, r1) in itertools.pairwise(zip(levels, rings, strict=True)):
            band = r0 & ~r1
            d0 = ndimage.distance_transform_edt(r0)
            d1 = ndimage.distance_transform_edt(~r1) if r1.any() else np.full(check.shape, np.inf)
            share = np.where(np.isfinite(d1), d0 / np.maximum(d0 + d1, 1e-9), 1.0)
            rise = np.where(band, t0 + (t1 - t0) * share, rise)
        rise = np.where(rings[-1], 1.0, rise)
    designed = np.where(blade, height - TAPER_MM * (1.0 - rise), np.nan)
    if p.base_mm > 0:
        designed = np.where(rasterize(contours_of(flange), check) & ~inside & ~blade, p.base_mm, designed)
    intent = Intent(check, np.isfinite(designed), designed)
    span = float(np.max(mesh.bounds[1, :2] - mesh.bounds[0, :2]))  # sized already
    return finish(mesh, intent, rgba, outline.colour_box(check, inside), span, notes=notes)


def cutter_outline(
    rgba: np.ndarray, found: ForegroundMask, p: ReliefParameters
) -> tuple[Outline, manifold3d.CrossSection, dict[str, object]]:
    """The subject traced at ``size_mm`` and the line a cutter cuts along (:func:`cutting_line`),
    brought back to ``size_mm`` where simplifying cut something off — what the cutter and its
    imprint stamp are both made to — with the notes."""
    mask, notes = joined_subject(found, p.size_mm, True)
    outline = traced_outline(rgba, found, mask, p.size_mm)
    line, simplified = cutting_line(outline.section, p.blade_mm)
    notes.update(simplified)
    b = line.bounds()
    factor = p.size_mm / max(b[2] - b[0], b[3] - b[1])
    if abs(factor - 1) > 1e-3:
        line, outline = line.scale((factor, factor)), outline.scaled(factor)
    return outline, line, notes


def cutting_line(section: manifold3d.CrossSection, blade_mm: float) -> tuple[manifold3d.CrossSection, dict]:
    """The outline a cutter can cut: the outer outline (holes filled, parts bridged), notches too
    narrow for two blade walls closed, spikes narrower than :data:`MIN_DETAIL_MM` cut off — and
    notes saying what changed."""
    filled = _filled(section)
    notes: dict[str, object] = {}
    if len(contours_of(filled)) < len(contours_of(section)):
        notes["inner_lines"] = "not cut: a cutter follows the outer outline"
    line, bars = bridged(filled, BRIDGE_MM)
    if bars:
        notes["bridged_parts"] = bars
    rounded = {"join_type": manifold3d.JoinType.Round, "circular_segments": CIRCLE_SEGMENTS}
    notch, spike = blade_mm + NOTCH_GAP_MM / 2, MIN_DETAIL_MM / 2

    def closed(section: manifold3d.CrossSection) -> manifold3d.CrossSection:
        return section.offset(notch, **rounded).offset(-notch, **rounded)

    opened = closed(line).offset(-spike, **rounded).offset(spike, **rounded)
    # Cutting off spikes may cut off whole thin parts (a balloon's string): small leftovers go, the
    # large ones are bridged again (bars wider than a spike), and the joints closed like the rest.
    pieces = sorted(opened.decompose(), key=lambda piece: -piece.area())
    if not pieces:
        raise InputRejected("The outline is too thin everywhere to cut.", code="no_subject")
    kept = [piece for piece in pieces if piece.area() >= KEPT_PIECE_SHARE * pieces[0].area()]
    joined, _ = bridged(manifold3d.CrossSection.batch_boolean(kept, manifold3d.OpType.Add), BRIDGE_MM)
    simple = _filled(closed(joined.simplify(SIMPLIFY_MM)))  # joining may enclose a gap: no cutting there
    changed = (line - simple).area() + (simple - line).area()
    if changed > max(REPORTED_CHANGE_MM2, REPORTED_CHANGE_SHARE * line.area()):
        notes["simplified"] = {
            "changed_mm2": round(changed, 1),
            "changed_share": round(changed / line.area(), 4),
            "closed_notches_under_mm": round(2 * notch, 2),
            "parts_dropped": len(pieces) - len(kept),
            "removed_details_under_mm": MIN_DETAIL_MM,
        }
        warnings = notes.setdefault("warnings", [])
        assert isinstance(warnings, list)
        warnings.append(
            f"The outline was too detailed to cut: notches narrower than {2 * notch:.1f} mm were closed "
            f"and details narrower than {MIN_DETAIL_MM:g} mm removed ({changed:.0f} mm² changed)."
        )
    return simple, notes


def _filled(section: manifold3d.CrossSection) -> manifold3d.CrossSection:
    """``section`` without its holes."""
    outer = [c for c in contours_of(section) if _signed_area(c) > 0]
    return manifold3d.CrossSection(outer, manifold3d.FillRule.Positive)


def _cut_levels(outside: manifold3d.CrossSection, cut: float) -> np.ndarray:
    """The insets (shares of ``cut``) the top edge's 45° cut is built between, as
    :func:`~orfeas.engines.relief.extrude.extruded` builds it: two where the outline is wide enough
    for the cut everywhere, else :data:`~orfeas.engines.relief.extrude.CHAMFER_STEPS` + 1."""
    miter = {"join_type": manifold3d.JoinType.Miter, "miter_limit": MITER_LIMIT}
    reopened = outside.offset(-cut, **miter).offset(cut, **miter)
    count = 1 if reopened.area() >= 0.995 * outside.area() else CHAMFER_STEPS
    return np.linspace(0.0, 1.0, count + 1)


def _stretched(solid: manifold3d.Manifold, z0: float, z1: float, to: float) -> manifold3d.Manifold:
    """``solid`` with what lies between heights ``z0`` and ``z1`` stretched to span ``to``–``z1``
    and what lies below ``z0`` squeezed under ``to`` (only its floor is there)."""
    mesh = solid.to_mesh()
    v = np.array(mesh.vert_properties, dtype=np.float64)
    z = v[:, 2]
    v[:, 2] = np.where(z >= z0 - 1e-6, to + (z - z0) * (z1 - to) / (z1 - z0), z * to / z0)
    return manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(v, dtype=np.float32),
            tri_verts=np.asarray(mesh.tri_verts, dtype=np.uint32),
        )
    )


def _signed_area(c: np.ndarray) -> float:
    return 0.5 * float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))
