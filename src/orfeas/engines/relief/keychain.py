"""``keychain``: the picture or text extruded as ``extrude`` makes it, raised on a backing that
follows its outline, with a ring loop (or a hole) to hang it by — one piece.

The loop goes on the line from the body's centre toward the asked direction (``loop_position``,
or ``loop_angle_deg`` clockwise from the top): a keychain hangs with its loop straight above its
centre, so that direction is how it hangs. ``auto`` tries the directions around the top and
keeps the top unless another joins more solidly or grows the keychain much less. A ring's disc
(``hole_mm`` plus ``loop_wall_mm`` all around) sits just clear of the design and is joined by
their hull to a near part of the body that is wide (:data:`JOINT_REACH`), never closing a gap of
the design into another hole; a ``hole`` goes as far out as its disc fits inside the body, the
design flattened around it. Either way there are at least ``loop_wall_mm`` of material around
the hole.

:func:`keychain_layout` gives the parts as cross-sections in mm at the final size — the backing
with the loop and the hole, and the raised design — so colour parts can be built on the same
layout; :func:`keychain` extrudes them into the solid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import manifold3d
import numpy as np
from scipy import ndimage

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief import colours
from orfeas.engines.relief.extrude import Outline, designed_top, extruded, traced_outline
from orfeas.engines.relief.grid import BRIDGE_MM, Built, Grid, finish, joined_subject
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.outline import bridged, contours_of, rasterize
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.solids import to_trimesh
from orfeas.settings import Settings

#: Directions ``auto`` tries, in degrees clockwise from the top. A keychain hangs with its loop
#: straight above its centre, so the loop's direction from the centre is how tilted it hangs: a
#: degree away from the top costs as much as this much growth (the top wins unless it is weak).
AUTO_DIRECTIONS = (0, -20, 20, -40, 40, -60, 60, -90, 90)
DEGREE_COST_MM = 0.15
#: How many millimetres nearer a millimetre of width makes a place to join the ring to the body.
JOINT_REACH = 1.5
#: The cost (as millimetres of growth) of a ring whose tab would close a gap of the design.
ENCLOSING_COST_MM = 100.0
#: Named positions, clockwise from the top.
POSITIONS = {"top": 0.0, "right": 90.0, "left": -90.0}
#: Segments of the loop's circles (a 5 mm hole: chords within 0.01 mm).
CIRCLE_SEGMENTS = 96
#: Placement is worked out on a raster this fine (mm), at most: a tenth of the loop's radius.
PLACEMENT_PIXEL_MM = 0.25
#: Passes at fitting the whole keychain, loop included, to ``size_mm`` (the loop does not scale);
#: the last few tenths of a millimetre are made up by scaling the whole (the hole only grows).
FIT_PASSES = 5
FIT_TOLERANCE_MM = 0.3


@dataclass(frozen=True)
class Loop:
    """Where the keychain hangs from: the hole's centre (mm) and size, the disc of material around
    it, and the tab joining that disc to the body (empty for a hole through the body)."""

    kind: str
    centre: tuple[float, float]
    hole_mm: float
    outer_mm: float
    angle_deg: float
    tab: manifold3d.CrossSection

    def hole(self) -> manifold3d.CrossSection:
        return _circle(self.centre, self.hole_mm / 2)

    def disc(self) -> manifold3d.CrossSection:
        return _circle(self.centre, self.outer_mm / 2)


@dataclass(frozen=True)
class KeychainLayout:
    """A keychain's parts as cross-sections in mm: ``base`` (the backing with the loop's tab, the
    hole cut out; z from 0 to ``base_mm``; ``None`` without a backing) and ``design`` (raised to
    ``top_mm``; without a backing it is the whole body, loop and hole included, from z = 0)."""

    design: manifold3d.CrossSection
    base: manifold3d.CrossSection | None
    loop: Loop
    base_mm: float
    top_mm: float
    outline: Outline
    cleared: manifold3d.CrossSection  # where the design was flattened for the loop (a hole's disc)
    notes: dict[str, object] = field(default_factory=dict)

    def scaled(self, factor: float) -> KeychainLayout:
        """The whole layout ``factor`` times as large (about the origin), the loop too."""

        def grown(section: manifold3d.CrossSection) -> manifold3d.CrossSection:
            return section.scale((factor, factor))

        loop = replace(
            self.loop,
            centre=(self.loop.centre[0] * factor, self.loop.centre[1] * factor),
            hole_mm=self.loop.hole_mm * factor,
            outer_mm=self.loop.outer_mm * factor,
            tab=grown(self.loop.tab),
        )
        notes = {**self.notes, "loop": {**self.notes["loop"], "hole_mm": round(loop.hole_mm, 3)}}  # type: ignore[dict-item]
        return replace(
            self,
            design=grown(self.design),
            base=None if self.base is None else grown(self.base),
            loop=loop,
            outline=self.outline.scaled(factor),
            cleared=grown(self.cleared),
            notes=notes,
        )

    @property
    def body(self) -> manifold3d.CrossSection:
        """The whole keychain seen from above."""
        return self.design if self.base is None else self.base + self.design

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        b = self.body.bounds()
        return np.asarray(b[:2]), np.asarray(b[2:])


def keychain(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    assert found is not None
    progress("mesh", 0.0)
    layout = keychain_layout(rgba, found, p)
    edge = p.top_edge if p.top_edge != "sharp" else None
    raised_from = 0.0 if layout.base is None else layout.base_mm
    solid, edge_mm = extruded(
        layout.design,
        raised_from,
        layout.top_mm,
        edge=edge,
        edge_mm=min(p.top_edge_mm, layout.top_mm - raised_from),
    )
    if layout.base is not None:
        solid = solid + manifold3d.Manifold.extrude(layout.base, layout.base_mm)
    notes = dict(layout.notes)
    low, high = layout.bounds()
    # The loop's centre as the model will have it: from its lower left corner seen from above.
    notes["loop"] = {
        **notes["loop"],
        "centre_mm": [round(float(v - o), 2) for v, o in zip(layout.loop.centre, low, strict=True)],
    }  # type: ignore[dict-item]
    if edge is not None:
        notes["top_edge_mm"] = round(edge_mm, 3)
    colouring = None
    if colours.wanted(p):  # the backing takes the colour along the design's edge
        subject = Grid((0.0, 0.0, 1.0, 1.0), (layout.outline.field >= 0.5).astype(np.float32))
        palette, labels = colours.picture_palette(
            rgba, subject, layout.outline.grid, subject.mask, p.colors, p
        )
        colouring = colours.coloured(solid, layout.design, palette, labels, p, flat_top_mm=layout.top_mm)
        notes.update(colouring.notes)
    mesh = to_trimesh(solid) if colouring is None else colouring.union

    # What was meant: the picture's subject raised (less a hole's flattened disc), the backing and
    # the loop at the backing's height; seen from above, the outline plus the loop.
    check = layout.outline.check_grid(low, high)
    design = layout.outline.coverage_on(check) & ~rasterize(contours_of(layout.cleared), check)
    if layout.base is None:
        whole = (design | rasterize(contours_of(layout.loop.tab), check)) & ~rasterize(
            contours_of(layout.loop.hole()), check
        )
        height = designed_top(whole, check.pixel_mm, layout.top_mm, edge, edge_mm)
    else:
        backing = rasterize(contours_of(layout.base), check)
        whole = backing | design
        raised = designed_top(design, check.pixel_mm, layout.top_mm, edge, edge_mm)
        height = np.where(design, raised, np.where(backing, layout.base_mm, np.nan))
    if colouring is not None:
        height = colouring.lifted(height, check)
    intent = Intent(check, whole, height)
    span = float(np.max(mesh.bounds[1, :2] - mesh.bounds[0, :2]))  # sized already: no scaling
    return finish(
        mesh,
        intent,
        rgba,
        layout.outline.colour_box(check, design),
        span,
        colours="plate" if layout.base is not None else "subject",
        notes=notes,
        plate_mm=layout.base_mm if layout.base is not None else None,
        parts=colouring.parts if colouring is not None else None,
    )


def keychain_layout(rgba: np.ndarray, found: ForegroundMask, p: ReliefParameters) -> KeychainLayout:
    """The keychain's backing, design and loop at the size asked, the loop included in ``size_mm``:
    the design is traced once and scaled until the whole fits (the loop keeps its own size)."""
    backing = p.base_mm > 0
    mask, notes = joined_subject(found, p.size_mm, not backing)
    side = p.size_mm - (2 * p.margin_mm if backing else 0.0)
    if side <= 2.0:
        raise InputRejected(
            f"size_mm ({p.size_mm:g} mm) leaves no room inside a {p.margin_mm:g} mm backing.",
            code="invalid_parameter",
            field="margin_mm",
        )
    traced = traced_outline(rgba, found, mask, side)
    scale, angle = 1.0, None
    fits: list[tuple[float, KeychainLayout]] = []
    for _ in range(FIT_PASSES):
        if scale * side <= 1.0:
            raise InputRejected(
                f"A {p.hole_mm:g} mm hole with {p.loop_wall_mm:g} mm around it leaves no room for the design "
                f"in {p.size_mm:g} mm: make the keychain larger.",
                code="invalid_parameter",
                field="size_mm",
            )
        layout = _laid_out(traced.scaled(scale), p, angle, dict(notes))
        angle = layout.loop.angle_deg  # found once; the next passes only fit the size
        low, high = layout.bounds()
        extent = float(np.max(high - low))
        if extent <= p.size_mm:
            fits.append((extent, layout))
            if p.size_mm - extent <= FIT_TOLERANCE_MM:
                break
        # The design grows with the scale, the loop does not: along the longest side the keychain
        # grows as fast as the design does there. The aim is a little short of the size (the loop
        # sits on a raster, so the size moves in small steps), the rest is scaled below.
        axis = int(np.argmax(high - low))
        design_low, design_high = (
            layout.outline.section.bounds()[axis],
            layout.outline.section.bounds()[axis + 2],
        )
        rate = (design_high - design_low) / scale
        scale += (p.size_mm - FIT_TOLERANCE_MM / 2 - extent) / rate
    if not fits:
        raise InputRejected(
            f"The keychain could not be fitted to {p.size_mm:g} mm with its loop: try another size.",
            code="invalid_parameter",
            field="size_mm",
        )
    extent, layout = max(fits, key=lambda fit: fit[0])
    # The rest of the way by scaling everything a little (by at most a few tenths of a per cent):
    # the hole only grows.
    return layout.scaled(p.size_mm / extent)


def _laid_out(
    outline: Outline, p: ReliefParameters, angle: float | None, notes: dict[str, object]
) -> KeychainLayout:
    """The layout of ``outline`` as it is sized: backing, loop (toward ``angle`` when it is known
    already, else as the parameters say), hole and design."""
    design = outline.section
    backing = None
    if p.base_mm > 0:
        backing = design.offset(p.margin_mm, manifold3d.JoinType.Round, circular_segments=CIRCLE_SEGMENTS)
        backing, bars = bridged(backing, max(BRIDGE_MM, 2 * p.margin_mm))
        if notes.get("parts", 1) > 1:
            notes["joined_by"] = "the backing" + (
                f" and {bars} bridge{'s' if bars != 1 else ''}" if bars else ""
            )
    body = backing if backing is not None else design
    directions = [angle] if angle is not None else _directions(p)
    loop = _placed_loop(body, design, p, directions, notes)
    cleared = loop.disc() if loop.kind == "hole" else manifold3d.CrossSection()
    if backing is None:
        design = (design + loop.tab - loop.hole()) if loop.kind == "ring" else design - loop.hole()
        base = None
    else:
        base = backing + loop.tab - loop.hole()
        design = design - cleared
    notes["loop"] = {
        "kind": loop.kind,
        "hole_mm": loop.hole_mm,
        "wall_mm": p.loop_wall_mm,
        "angle_deg": round(loop.angle_deg, 1),
    }
    return KeychainLayout(
        design=design,
        base=base,
        loop=loop,
        base_mm=p.base_mm,
        top_mm=p.base_mm + p.depth_mm,
        outline=outline,
        cleared=cleared,
        notes=notes,
    )


def _directions(p: ReliefParameters) -> list[float]:
    if p.loop_angle_deg is not None:
        return [p.loop_angle_deg]
    if p.loop_position in POSITIONS:
        return [POSITIONS[p.loop_position]]
    return list(AUTO_DIRECTIONS)


def _placed_loop(
    body: manifold3d.CrossSection,
    design: manifold3d.CrossSection,
    p: ReliefParameters,
    directions: list[float],
    notes: dict[str, object],
) -> Loop:
    """The best loop toward one of ``directions``: a hole where asked and the body is wide enough
    for it (else a ring, noted), a ring otherwise."""
    room = _Room(body, design, p.hole_mm, p.hole_mm + 2 * p.loop_wall_mm)
    if p.loop == "hole":
        holes = [h for h in (room.hole(d) for d in directions) if h is not None]
        if holes:
            return min(holes, key=lambda h: abs(h.angle_deg))
        warnings = notes.setdefault("warnings", [])
        assert isinstance(warnings, list)
        warnings.append(
            f"No part of the outline is wide enough for a {p.hole_mm:g} mm hole with {p.loop_wall_mm:g} mm "
            "around it: a ring loop was added instead."
        )
    return min((room.ring(d) for d in directions), key=lambda ring: ring[1])[0]


class _Room:
    """The body and the design on a raster: how deep inside the body each cell is, and how far it is
    from the design — what placing the loop needs to know."""

    def __init__(
        self, body: manifold3d.CrossSection, design: manifold3d.CrossSection, hole_mm: float, outer_mm: float
    ) -> None:
        self.hole_mm, self.outer_mm = hole_mm, outer_mm
        radius = self.radius = outer_mm / 2
        low, high = np.asarray(body.bounds()[:2]), np.asarray(body.bounds()[2:])
        pixel = min(PLACEMENT_PIXEL_MM, radius / 10)
        reach = 2 * radius + 4 * pixel
        self.grid = PixelGrid.around(low - reach, high + reach, pixel)
        self.pixel = pixel
        inside = rasterize(contours_of(body), self.grid)
        self.depth = (ndimage.distance_transform_edt(inside) - 0.5) * pixel  # to the outline, inside
        drawn = rasterize(contours_of(design), self.grid)
        self.clear = (ndimage.distance_transform_edt(~drawn) - 0.5) * pixel  # to the design, outside
        self.body, self.holes = body, _holes(body)
        self.low, self.high = low, high
        x, y = self.grid.centres()
        self.xy = np.column_stack([x.ravel(), y.ravel()])
        self.centroid = self.xy[inside.ravel()].mean(axis=0)

    def _ray(self, angle: float) -> np.ndarray:
        """Points every half pixel along the ray from the body's centroid toward ``angle``."""
        reach = float(np.max(self.high - self.low)) + 4 * self.radius
        steps = np.arange(0.0, reach, self.pixel / 2)
        return self.centroid[None, :] + steps[:, None] * _direction(angle)[None, :]

    def ring(self, angle: float) -> tuple[Loop, float]:
        """A ring toward ``angle`` and its cost: how much it grows the keychain (mm), its angle's
        cost, and where it joins a part narrower than itself, the difference."""
        along = self._ray(angle)
        # Outside the body (past where the ray last leaves it: never in a gap of the design) and
        # clear of the design.
        inside = np.nonzero(self._at(self.depth, along) > 0)[0]
        beyond = inside[-1] if len(inside) else 0
        free = np.nonzero(self._at(self.clear, along[beyond:]) >= self.radius + self.pixel)[0]
        centre = along[beyond + free[0]] if len(free) else along[-1]
        # The tab joins the ring to a near part of the body that is wide: the anchor is the cell
        # nearest the ring once each millimetre of width (up to the ring's own) counts as JOINT_REACH
        # millimetres nearer.
        cells = np.nonzero((self.depth > self.pixel).ravel())[0]
        width = np.minimum(self.depth.ravel()[cells], self.radius)
        anchor = self.xy[
            cells[np.argmin(np.linalg.norm(self.xy[cells] - centre, axis=1) - JOINT_REACH * width)]
        ]
        joint = max(min(self._at(self.depth, anchor[None, :])[0], self.radius) - self.pixel, self.pixel)
        tab = manifold3d.CrossSection.batch_hull([_circle(anchor, joint), _circle(centre, self.radius)])
        low = np.minimum(self.low, centre - self.radius)
        high = np.maximum(self.high, centre + self.radius)
        size, grown = np.sort(self.high - self.low)[::-1], np.sort(high - low)[::-1]
        cost = 0.5 * (grown[0] - size[0]) + 0.25 * (grown[1] - size[1]) + DEGREE_COST_MM * abs(angle)
        cost += 2 * max(0.0, self.radius - joint)
        if _holes(self.body + tab - _circle(centre, self.hole_mm / 2)) != self.holes + 1:
            cost += ENCLOSING_COST_MM  # the tab closes a gap of the design into another hole
        loop = Loop("ring", (float(centre[0]), float(centre[1])), self.hole_mm, self.outer_mm, angle, tab)
        return loop, float(cost)

    def hole(self, angle: float) -> Loop | None:
        """A hole toward ``angle`` — as far out along the ray as the loop's disc fits inside the
        body — or ``None``."""
        along = self._ray(angle)
        fits = np.nonzero(self._at(self.depth, along) >= self.radius + self.pixel)[0]
        if len(fits) == 0:
            return None
        centre = along[fits[-1]]
        where = (float(centre[0]), float(centre[1]))
        return Loop("hole", where, self.hole_mm, self.outer_mm, angle, manifold3d.CrossSection())

    def _at(self, values: np.ndarray, xy: np.ndarray) -> np.ndarray:
        cols, rows = np.round(self.grid.to_pixels(xy)).astype(int).T
        inside = (rows >= 0) & (rows < values.shape[0]) & (cols >= 0) & (cols < values.shape[1])
        out = np.full(len(xy), np.inf if values is self.clear else -np.inf)
        out[inside] = values[rows[inside], cols[inside]]
        return out


def _holes(section: manifold3d.CrossSection) -> int:
    """How many holes a cross-section has (its clockwise contours)."""
    return sum(1 for c in contours_of(section) if _signed_area(c) < 0)


def _signed_area(c: np.ndarray) -> float:
    return 0.5 * float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))


def _direction(angle_deg: float) -> np.ndarray:
    """The unit vector ``angle_deg`` clockwise from +y (the top of the picture)."""
    a = np.radians(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def _circle(centre: np.ndarray | tuple[float, float], radius: float) -> manifold3d.CrossSection:
    return manifold3d.CrossSection.circle(radius, CIRCLE_SEGMENTS).translate(
        (float(centre[0]), float(centre[1]))
    )
