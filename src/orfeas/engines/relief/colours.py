"""Colour prints: the picture's colours become the parts of one object (``colors``, ``palette``,
``color_strategy``, ``color_depth_mm``), for the modes built as one solid from above — ``extrude``,
``relief`` and ``keychain`` (and so typeset text).

A mode builds its object as usual (one solid, the ``body``) and says which part of it shows the
picture from above, its ``design``. :func:`picture_palette` reduces the design's colours
(:mod:`orfeas.imaging.palette`), :func:`regions` traces each colour into a cross-section so that
together they partition the design, and :func:`coloured` cuts the body along them:

* ``inlay`` — flush: each colour fills the top ``color_depth_mm`` of the body over its region,
  the rest of the body is in the base colour. The top stays exactly as it was; filament changes
  happen only in those top layers.
* ``stacked`` — the body is the base colour and each further colour stands ``color_depth_mm``
  higher than the one below it: a slab over its own region and those of the colours above it.
  Each colour then begins at its own height, so a printer with one nozzle prints it too,
  changing filament at those heights.

The base colour is the one along the design's edge (a logo's outline), so the walls show one
colour; the rest of the body (a keychain's backing and loop) is the base's too, except a plate,
which is a colour of its own (light grey) under the design's. Every boundary between two parts
is one wall of one prism, each part cut from what the ones before it left: the parts touch
without overlapping and fill the body exactly. The mesh every other format gets is the body (for
``stacked``, with the steps on it), one solid — never a union of the parts, which would keep
their shared walls inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import manifold3d
import numpy as np
import trimesh

from orfeas.engines.relief.grid import PLATE_GREY, Grid, resample, spread_colours
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.imaging.palette import Palette, parse_palette, reduce_colours
from orfeas.mesh.outline import contours_of, cross_section, rasterize, trace
from orfeas.mesh.parts import Part
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.solids import to_trimesh

#: Colour regions narrower than this are merged into their neighbours (mm): a nozzle's line and
#: a little more, and wider than any anti-aliased edge between two colours.
MIN_WIDTH_MM = 0.5
#: Colour regions smaller than this are merged into their neighbours (mm²).
MIN_AREA_MM2 = 1.0
#: The tolerance colour regions are traced to (mm): the design's bound for outlines.
REGION_TOLERANCE_MM = 0.05
#: How far each colour's prism reaches into the regions of the colours cut after it (mm): far
#: more than a rounding error, far less than anything a printer resolves.
OVERLAP_MM = 0.01
#: Each colour's prism is simplified to this (mm), well inside the tracing's tolerance: no edge
#: shorter than a file's float32 coordinates can tell apart meets another prism's wall.
SIMPLIFY_MM = 0.005
#: Pieces of a region smaller than this (mm²) are rounding errors, not colour.
SPECK_MM2 = 0.01
#: Shells of less volume than this that a boolean leaves are dropped (mm³).
SLIVER_MM3 = 1e-3
#: Longest side of the picture the colours are reduced on.
PALETTE_SIDE = 768


def solid_of(mesh: trimesh.Trimesh) -> manifold3d.Manifold:
    """A closed mesh (a height field's solid) as a manifold3d solid, to cut it into parts."""
    solid = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
        )
    )
    if solid.status() != manifold3d.Error.NoError:
        raise ValueError(f"not a closed solid: {solid.status()}")
    return solid


def wanted(p: ReliefParameters) -> bool:
    """Whether the parameters ask for a print in several colours."""
    return p.colors > 1 or bool(p.palette)


@dataclass
class Colouring:
    """A body cut into colour parts: the parts (base first, then by the area they show), their
    union (vertex colours from its parts), the regions (mm) and the height each stands above
    the body's top (0 for an inlay), for the intent."""

    parts: list[Part]
    union: trimesh.Trimesh
    regions: list[manifold3d.CrossSection]
    raised_mm: list[float]
    notes: dict[str, Any] = field(default_factory=dict)

    def raised_on(self, grid: PixelGrid) -> np.ndarray:
        """How far the top stands above the body's top at each pixel of ``grid`` (mm)."""
        out = np.zeros(grid.shape)
        for region, lift in zip(self.regions, self.raised_mm, strict=True):
            if lift > 0:
                out[rasterize(contours_of(region), grid)] = lift
        return out

    def lifted(self, height: np.ndarray, grid: PixelGrid) -> np.ndarray:
        """The intended top ``height`` (on ``grid``, NaN off the object) with the stacked colours
        standing higher."""
        return height + np.where(np.isfinite(height), self.raised_on(grid), 0.0)


def picture_palette(
    rgba: np.ndarray, crop: Grid, frame: PixelGrid, subject: np.ndarray, count: int, p: ReliefParameters
) -> tuple[Palette, PixelGrid]:
    """The subject's colours seen from above reduced to ``count`` (or to ``p.palette``), on a grid
    of :data:`PALETTE_SIDE` px over the box ``crop`` (picture fractions) that ``frame`` lays out in
    mm. ``subject`` is its mask over the same box (any size); its colours are spread past its
    outline (bridges and the outline's last pixels take the nearest subject colour). The picture
    is enlarged or reduced with its colours weighted by their opacity, so no colour of a
    transparent pixel bleeds into an edge."""
    scale = PALETTE_SIDE / max(frame.shape)
    shape = (max(2, round(frame.shape[0] * scale)), max(2, round(frame.shape[1] * scale)))
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    weighted = resample(np.dstack([rgba[..., :3] * alpha, alpha]).astype(np.float32), crop, shape)
    cover = np.clip(weighted[..., 3:], 0.0, 1.0)
    solid = cover[..., 0] >= 0.5
    rgb = np.clip(weighted[..., :3] / np.maximum(cover, 1e-3), 0, 255).astype(np.uint8)
    region = cv2.resize(subject.astype(np.float32), shape[::-1], interpolation=cv2.INTER_LINEAR) >= 0.5
    rgb = spread_colours(rgb, solid & region if (solid & region).any() else region)
    grid = PixelGrid(shape, frame.pixel_mm * frame.shape[0] / shape[0], frame.origin_mm)
    parts = parse_palette(p.palette) if p.palette else None
    palette = reduce_colours(
        rgb,
        region,
        count,
        parts=parts,
        min_region_px=max(4, round(MIN_AREA_MM2 / grid.pixel_mm**2)),
        min_width_px=max(1, round(MIN_WIDTH_MM / grid.pixel_mm)),
    )
    return palette, grid


def regions(
    palette: Palette, grid: PixelGrid, design: manifold3d.CrossSection
) -> list[tuple[int, manifold3d.CrossSection]]:
    """The palette's colours as cross-sections (mm, on ``grid``) that partition ``design`` (the
    part of the object seen from above that shows the picture), in part order: the base colour
    (the most common along the design's edge) first, then the others by area, as
    [(palette index, region)]. Each region is traced from its colour's pixels, grown by the tracing
    tolerance and cut to the design; what is narrower than :data:`MIN_WIDTH_MM` goes, earlier
    regions keep what two claim and the base takes what is left — no gaps, no overlaps."""
    labels, region = palette.labels, palette.region
    edge = region & ~cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    along = np.bincount(labels[edge & (labels >= 0)], minlength=palette.count)
    base = int(np.argmax(along)) if along.any() else 0
    others = [k for k in np.argsort(-palette.shares, kind="stable") if k != base]
    taken = manifold3d.CrossSection()
    out = []
    half = MIN_WIDTH_MM / 2
    for k in others:
        traced = cross_section(
            trace((labels == k).astype(np.float32), grid, tolerance_mm=REGION_TOLERANCE_MM)
        )
        grown = traced.offset(REGION_TOLERANCE_MM, manifold3d.JoinType.Miter, miter_limit=2.0)
        opened = (
            ((grown ^ design) - taken)
            .offset(-half, manifold3d.JoinType.Miter, miter_limit=2.0)
            .offset(half, manifold3d.JoinType.Miter, miter_limit=2.0)
        )
        own = (opened ^ design) - taken
        if own.area() < MIN_AREA_MM2:
            continue
        taken = taken + own
        out.append((int(k), own))
    return _tidied([(base, design - taken), *out])


def _tidied(
    partition: list[tuple[int, manifold3d.CrossSection]],
) -> list[tuple[int, manifold3d.CrossSection]]:
    """The partition with every piece narrower than :data:`MIN_WIDTH_MM` or smaller than
    :data:`MIN_AREA_MM2` (what the tracing leaves where three colours meet) joined to the region it
    shares the most border with."""
    sections = [section for _, section in partition]
    half = MIN_WIDTH_MM / 2
    for i in range(len(sections)):
        for piece in sections[i].decompose():
            if piece.area() >= MIN_AREA_MM2 and not piece.offset(-half, manifold3d.JoinType.Miter).is_empty():
                continue
            reach = piece.offset(2 * REGION_TOLERANCE_MM, manifold3d.JoinType.Miter, miter_limit=2.0)
            shared = [(reach ^ other).area() if j != i else -1.0 for j, other in enumerate(sections)]
            j = int(np.argmax(shared))
            if shared[j] <= 0:
                continue
            sections[j] = sections[j] + piece
            sections[i] = sections[i] - piece
    return [(k, section) for (k, _), section in zip(partition, sections, strict=True)]


def design_colours(p: ReliefParameters, plate: bool) -> int:
    """How many colours the design gets: all that were asked, less one for a plate of its own."""
    return max(1, p.colors - 1) if plate else p.colors


def coloured(
    body: manifold3d.Manifold,
    design: manifold3d.CrossSection,
    palette: Palette,
    grid: PixelGrid,
    p: ReliefParameters,
    *,
    plate: bool = False,
    flat_top_mm: float | None = None,
) -> Colouring:
    """``body`` cut into one part per colour of ``palette`` (labels laid out on ``grid``) over
    ``design`` (see :func:`regions`), as ``p.color_strategy`` says (see the module doc). The rest
    of the body (a backing, a loop) is the base colour's; a ``plate`` is a part of its own in the
    plate's light colour, under all the design's colours. ``flat_top_mm``: the height of the
    design's flat top, when it has one (an inlay then goes ``color_depth_mm`` below it, cut by a
    plane; a chamfer or fillet dips under the inlay toward the outline)."""
    partition = [
        (tuple(int(v) for v in palette.colours[k]), region) for k, region in regions(palette, grid, design)
    ]
    if plate:
        around = body.project() - design
        partition = [((PLATE_GREY,) * 3, around), *partition]
    ordered = partition
    depth = p.color_depth_mm
    low, high = body.bounding_box()[2], body.bounding_box()[5]
    if p.color_strategy == "inlay" and depth >= high - low:
        raise InputRejected(
            f"color_depth_mm ({depth:g} mm) must be less than the object's height ({high - low:.2f} mm).",
            code="invalid_parameter",
            field="color_depth_mm",
        )

    def prism(section: manifold3d.CrossSection, top: float) -> manifold3d.Manifold:
        return manifold3d.Manifold.extrude(section, top - low + 2.0).translate((0.0, 0.0, low - 1.0))

    def grown(section: manifold3d.CrossSection) -> manifold3d.CrossSection:
        # Within the design only: past its edge the body's top is at another height (a plate),
        # where a colour reaching over would stand as a sliver — as would the rounding errors a
        # region cut to the design leaves along its edge.
        own = [piece for piece in (section ^ design).decompose() if piece.area() >= SPECK_MM2]
        if not own:
            return manifold3d.CrossSection()
        reach = manifold3d.CrossSection.batch_boolean(own, manifold3d.OpType.Add).offset(
            OVERLAP_MM, manifold3d.JoinType.Miter, miter_limit=2.0
        )
        return reach.simplify(SIMPLIFY_MM) ^ design

    # Every boundary between two parts is one wall of one prism: each colour's prism reaches
    # OVERLAP_MM into its neighbours and takes only what the colours before it left. Two prisms
    # with walls a rounding error apart (two regions' shared edge, traced from each side) would
    # leave slivers of no width, which pinch the parts once a file's vertices are merged.
    raised = [0.0] * len(ordered)
    if p.color_strategy == "inlay":
        if flat_top_mm is None:
            skin = body - body.translate((0.0, 0.0, -depth))  # the top `depth` of every column
        else:  # the design's top is flat (but for an edge): what is above `depth` below it
            skin = manifold3d.Manifold.extrude(design, high - flat_top_mm + depth + 1.0).translate(
                (0.0, 0.0, flat_top_mm - depth)
            )
        left, inlays = body, []
        for _, section in ordered[1:]:
            inlay = left ^ (skin ^ prism(grown(section), high))
            inlays.append(inlay)
            left = left - inlay
        solids, union = [left, *inlays], body  # the base is what the inlays leave
    else:
        # Each step is the body lifted over the regions of its colour and those above it (built
        # from the top down, so each contains the next exactly); a part is its step less all that
        # is below. The steps overlap, so their union merges into one solid, where a union of the
        # parts, which only touch, would keep their shared walls inside.
        above = [manifold3d.CrossSection()] * len(ordered)
        reach = manifold3d.CrossSection()
        for rank in range(len(ordered) - 1, 0, -1):
            reach = reach + grown(ordered[rank][1])
            above[rank] = reach
        solids, union = [body], body
        for rank in range(1, len(ordered)):
            step = body.translate((0.0, 0.0, rank * depth)) ^ prism(above[rank], high + rank * depth)
            solids.append(step - union)
            union = union + step
            raised[rank] = rank * depth

    solids = [_without_slivers(solid) for solid in solids]
    kept = [i for i, solid in enumerate(solids) if not solid.is_empty()]
    parts = []
    seen_from_above = body.project().area()
    for n, i in enumerate(kept):
        colour, section = ordered[i]
        name = ("plate" if plate else "base") if i == 0 else f"colour {n + 1}"
        # The base also shows wherever no other colour does (a backing, a loop).
        shown = seen_from_above - sum(s.area() for _, s in ordered[1:]) if i == 0 else section.area()
        parts.append(Part(name, to_trimesh(solids[i], double=True), colour, float(shown)))  # type: ignore[arg-type]
    asked = palette.asked + (1 if plate else 0)
    notes = {
        "colours": len(parts),
        "colours_asked": asked,
        "color_strategy": p.color_strategy,
        "color_depth_mm": depth,
    }
    if len(parts) < asked:
        notes["colours_found"] = (
            f"the picture has {len(parts)} colour{'s' if len(parts) != 1 else ''} that print apart "
            f"({asked} asked)"
        )
    return Colouring(
        parts, to_trimesh(union, double=True), [ordered[i][1] for i in kept], [raised[i] for i in kept], notes
    )


def _without_slivers(solid: manifold3d.Manifold) -> manifold3d.Manifold:
    """``solid`` without the shells of (almost) no volume that booleans over coincident walls
    leave (a cut along a wall the body already has)."""
    pieces = solid.decompose()
    kept = [piece for piece in pieces if piece.volume() > SLIVER_MM3]
    if len(kept) == len(pieces):
        return solid
    if not kept:
        return manifold3d.Manifold()
    return manifold3d.Manifold.batch_boolean(kept, manifold3d.OpType.Add)
