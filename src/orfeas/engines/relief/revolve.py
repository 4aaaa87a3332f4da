"""``revolve``: a round object seen from the side — a chess piece, a bottle, a vase, a glass —
turned into a true 3D solid about its axis, solid or as a vessel (``hollow``).

Read :func:`revolve` top to bottom: read the side view (axis, symmetry, parts that are not round,
see :mod:`.profile`), judge whether it is round at all (refuse or warn), smooth the profile
keeping its steps, thicken what is too thin to print, turn it (:mod:`orfeas.mesh.revolve`),
wrap the picture around it, and measure the result against the picture (:func:`revolve_fidelity`).
``size_mm`` is the height; the object stands on its flat bottom at z = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import trimesh
from scipy import ndimage

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Built
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.engines.relief.profile import (
    SideView,
    choose_side,
    read_side_view,
    silhouette,
    smooth_profile,
)
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.revolve import (
    ClosedTop,
    Profile,
    chordal_error_mm,
    section_extents,
    segments_for,
    turned_solid,
    vessel,
)
from orfeas.mesh.solids import to_trimesh
from orfeas.settings import Settings

#: Facets stay within this distance of the true circle.
CHORD_ERROR_MM = 0.05
#: At least this many segments per turn, so that it looks round.
MIN_SEGMENTS = 64
#: Around the widest part, vertices at most this far apart (so the wrapped picture keeps detail).
COLOUR_STEP_MM = 1.0
#: Rings added for the wrapped picture are at least this far apart.
RING_MIN_MM = 0.4
#: The profile is simplified until no point is further than this from the smoothed curve.
PROFILE_TOLERANCE_MM = 0.02
#: Share of the face budget the turned mesh may use (its caps and the vessel's rim take the rest).
BUDGET_SHARE = 0.9

#: Below these a picture is refused as not round (unless ``when_not_round="warn"``):
#: ``fill`` — share of the turned outline the picture really covers (gaps across the axis: legs,
#: arms apart from the body); ``coverage`` — share of the picture the turned body explains.
REFUSE_FILL = 0.90
REFUSE_COVERAGE = 0.70
#: Below these the report warns that the picture is not quite round.
WARN_SYMMETRY = 0.95
WARN_FILL = 0.97
WARN_COVERAGE = 0.95
#: The picture's rim left out of the wrapped colours, as a share of the body's width (outline, halo).
RIM_SHARE = 0.02
#: Neighbouring pixels differing by more than this (sum over R, G, B) are a colour edge; a picture
#: with edges at more than :data:`COLOUR_DETAIL` of its pixels has detail worth more vertices.
COLOUR_EDGE = 30
COLOUR_DETAIL = 0.002
#: No side of a turned object may be longer than this (the largest size_mm).
MAX_SIDE_MM = 500.0
#: A vessel holding less than this (ml) is reported as holding almost nothing.
TINY_CAPACITY_ML = 1.0
#: A base narrower than this share of the widest part may tip over.
NARROW_BASE = 0.3


@dataclass(frozen=True)
class RevolveIntent:
    """What ``revolve`` meant to build, in the picture's terms, for :func:`revolve_fidelity`.

    ``mask`` is the subject (rows top → bottom, one row per ``pixel_mm`` of height), ``axis`` the
    axis column in it, ``radius`` the intended half-width per row in px (the picture's, with the
    deliberate thickening) and ``thickened`` the rows changed on purpose.
    """

    mask: np.ndarray
    axis: float
    pixel_mm: float
    radius: np.ndarray
    thickened: np.ndarray
    outside: int = 0  # subject pixels not in ``mask``'s rows (they count against the IoU)


def revolve(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    assert found is not None
    subject = found.mask
    # 1. The side view: axis, symmetry, extras, the half-width at each height. Is it round?
    view = read_side_view(subject, None if p.axis_x is None else p.axis_x * subject.shape[1])
    if view.rows < 8:
        raise InputRejected("The subject is too small to build.", code="no_subject")
    picture_radius, side = choose_side(view, p.profile_side)
    roundness = judge_roundness(view, picture_radius)
    if roundness.refuse and p.when_not_round == "refuse":
        raise not_round(roundness)

    # 2. The profile to turn: smoothed between its steps, thin parts thickened.
    progress("mesh", 0.0)
    pixel_mm = p.size_mm / view.rows
    radius, thickened = thicken(
        smooth_profile(picture_radius), p.min_diameter_mm / 2.0 / pixel_mm, p.min_diameter_mm / pixel_mm
    )
    runs = thickened_runs(picture_radius, thickened, pixel_mm, p.min_diameter_mm)
    widest_mm, base_mm = float(radius.max()) * pixel_mm, float(radius[-1]) * pixel_mm
    if 2 * widest_mm > MAX_SIDE_MM:
        raise InputRejected(
            f"At {p.size_mm:g} mm high this object would be {2 * widest_mm:.0f} mm wide, more than "
            f"{MAX_SIDE_MM:g} mm: in revolve, size_mm is the height, so make it smaller.",
            code="invalid_parameter",
            field="size_mm",
        )

    # 3. Turned within the face budget (the plan estimates; a vessel's inside can take more),
    # finer where the picture wrapped around it has detail.
    wrap = picture_wrap(rgba, subject.shape, view)
    budget = p.target_faces
    for _ in range(4):
        segments, profile = mesh_plan(radius, pixel_mm, budget, hollow=p.hollow, wrap=wrap)
        mesh, notes = turn(profile, segments, p)
        if len(mesh.faces) <= p.target_faces:
            break
        budget = int(budget * 0.95 * p.target_faces / len(mesh.faces))
    mesh.visual.vertex_colors = wrapped_colours(mesh.vertices, wrap, view, pixel_mm)

    # 4. What to say about it, and how well it matches the picture.
    intent = RevolveIntent(
        mask=view.mask,
        axis=view.axis,
        pixel_mm=pixel_mm,
        radius=np.where(thickened, radius, picture_radius),
        thickened=thickened,
        outside=view.outside,
    )
    notes["revolve"] = {
        "axis_x": round((view.origin[1] + view.axis) / subject.shape[1], 4),
        "axis_found": p.axis_x is None,
        "side": side,
        "symmetry": round(view.symmetry, 4),
        "profile_fill": round(roundness.fill, 4),
        "coverage": round(roundness.coverage, 4),
        "not_round": [
            {"side": e.side, "share": round(e.share, 4), "rows": list(e.rows)} for e in view.extras
        ],
        "thickened": runs,
        "segments": segments,
        "profile_points": len(profile.z),
        "chordal_error_mm": round(chordal_error_mm(widest_mm, segments), 4),
        "base_diameter_mm": round(2 * base_mm, 2),
        "widest_diameter_mm": round(2 * widest_mm, 2),
    }
    notes["fidelity"] = revolve_fidelity(mesh, intent)
    notes["warnings"] = [
        *roundness.warnings,
        *thickening_warnings(runs, p.min_diameter_mm),
        *(vessel_warnings(notes["vessel"], p) if "vessel" in notes else []),
        *stability_warnings(base_mm, widest_mm),
    ]
    # The shared fidelity block sees the front silhouette (radial figures are in notes["fidelity"]).
    front = Intent(PixelGrid(view.mask.shape, pixel_mm, (0.0, 0.0)), view.mask, view="front", fit=True)
    return Built(mesh, front, notes)


def turn(profile: Profile, segments: int, p: ReliefParameters) -> tuple[trimesh.Trimesh, dict[str, Any]]:
    """The profile turned into a solid, or into a vessel with its figures (``hollow``)."""
    if not p.hollow:
        return to_trimesh(turned_solid(profile, segments), double=True), {}
    try:
        built = vessel(profile, segments, p.wall_mm, p.bottom_mm)
    except ClosedTop as exc:
        raise InputRejected(
            f"This object cannot be made hollow: {exc}, so a vessel would have no opening. "
            "Turn hollow off, or use a picture whose top is open (a cup, a vase).",
            code="invalid_parameter",
            field="hollow",
        ) from exc
    figures = {
        "capacity_ml": round(built.capacity_mm3 / 1000.0, 2),
        "wall_mm": p.wall_mm,
        "floor_mm": round(built.floor_mm, 3),  # the inside's floor, above the bed
        "opening_diameter_mm": round(2 * built.opening_radius_mm, 2),
    }
    return to_trimesh(built.solid, double=True), {"vessel": figures}


def vessel_warnings(figures: dict[str, Any], p: ReliefParameters) -> list[str]:
    """What a maker should know about a vessel: where its inside stops, if it holds almost nothing."""
    out = []
    if figures["capacity_ml"] < TINY_CAPACITY_ML:
        out.append(
            f"It holds almost nothing ({figures['capacity_ml']:g} ml): for this shape a {p.wall_mm:g} mm "
            "wall leaves next to no room inside."
        )
    elif figures["floor_mm"] > p.bottom_mm + 0.5:
        out.append(
            f"The inside reaches down to {figures['floor_mm']:.1f} mm above the bed; below that it is "
            "solid (a stem or a foot narrower than two walls)."
        )
    return out


@dataclass(frozen=True)
class Roundness:
    """Whether a side view is of a round object: its figures, reasons to refuse, warnings."""

    fill: float
    coverage: float
    reasons: list[str]
    warnings: list[str]

    @property
    def refuse(self) -> bool:
        return bool(self.reasons)


def judge_roundness(view: SideView, radius: np.ndarray) -> Roundness:
    """Is this a round object seen from the side?

    * ``fill``: of the outline the profile turns into, how much the picture really covers. A
      round body is solid across its axis at every height; legs apart or arms away from the body
      leave gaps.
    * ``coverage``: of the picture, how much the turned body explains (a handle is not explained).
    * ``view.symmetry``: the picture against its mirror image about the axis.
    """
    turned = silhouette(radius, view.axis, view.mask.shape[1])
    fill = np.count_nonzero(turned & view.body) / max(1, np.count_nonzero(turned))
    coverage = np.count_nonzero(turned & view.mask) / max(1, np.count_nonzero(view.mask) + view.outside)
    reasons, warnings = [], []
    if fill < REFUSE_FILL:
        reasons.append(
            f"at many heights it is not solid across its axis (only {fill:.0%} of the turned outline "
            "is in the picture — a person or an animal, not a turned object)"
        )
    if coverage < REFUSE_COVERAGE:
        reasons.append(f"only {coverage:.0%} of it would be round")
    for extra in view.extras:
        warnings.append(
            f"A part on the {extra.side} ({extra.share:.0%} of the outline) is not round — a handle "
            "or a spout? It was left out: only the round body was turned."
        )
    if view.symmetry < WARN_SYMMETRY:
        warnings.append(f"The outline is only {view.symmetry:.0%} symmetric about its axis.")
    if fill < REFUSE_FILL:
        warnings.append(
            f"At many heights the picture has gaps across the axis ({1 - fill:.0%} of the turned "
            "outline): it is not a round object seen from the side, and the turned shape fills them."
        )
    elif fill < WARN_FILL:
        warnings.append(
            f"At some heights the picture has gaps across the axis ({1 - fill:.0%} of the turned "
            "outline — battlements, a slot?): a turned shape cannot have them, so they are filled."
        )
    elif coverage < WARN_COVERAGE and not view.extras:
        warnings.append(f"Only {coverage:.0%} of the picture is explained by the turned body.")
    return Roundness(float(fill), float(coverage), reasons, warnings)


def not_round(roundness: Roundness) -> InputRejected:
    """The refusal of a picture that is not a round object seen from the side, with its reasons."""
    return InputRejected(
        "This picture does not look like a round object seen from the side: "
        + "; ".join(roundness.reasons)
        + ". Revolve suits chess pieces, bottles, vases and glasses drawn or photographed from "
        "the side; use the puffy or relief mode for other subjects, or set when_not_round to "
        "'warn' to turn it anyway.",
        code="not_round",
        field="image",
    )


def thickening_warnings(runs: list[dict[str, float]], minimum_mm: float) -> list[str]:
    """A sentence for each part thickened to ``minimum_mm`` (or each gap joined by a stem)."""
    out = []
    for run in runs:
        where = f"between {run['from_z_mm']:g} and {run['to_z_mm']:g} mm above the bed"
        if run["thinnest_mm"] > 0:
            out.append(
                f"The part {where} was {run['thinnest_mm']:g} mm thick; it was thickened to "
                f"{minimum_mm:g} mm (min_diameter_mm) so it prints and holds."
            )
        else:
            out.append(
                f"The picture has a gap {where}; the parts are joined by a {minimum_mm:g} mm stem "
                "(min_diameter_mm) so it prints as one piece."
            )
    return out


def stability_warnings(base_mm: float, widest_mm: float) -> list[str]:
    """A warning when the base (radius ``base_mm``) is narrow for the body (``widest_mm``)."""
    if base_mm >= NARROW_BASE * widest_mm:
        return []
    return [
        f"It stands on a base {2 * base_mm:.1f} mm wide under a body {2 * widest_mm:.1f} mm wide: "
        "it may tip over; print it with a brim."
    ]


def thicken(radius: np.ndarray, minimum: float, dome: float) -> tuple[np.ndarray, np.ndarray]:
    """Raise every row thinner than ``minimum`` (px) to it, except the top of a dome.

    A dome (a pawn's head) narrows to nothing over its last few rows, which print fine; a run of
    thin rows at the very top no taller than ``dome`` px is taken for one and left alone.
    """
    thin = radius < minimum
    if thin[0]:
        cap = int(np.argmin(thin)) if not thin.all() else len(thin)
        if cap <= dome:
            thin[:cap] = False
    return np.where(thin, minimum, radius), thin


def thickened_runs(
    radius: np.ndarray, thickened: np.ndarray, pixel_mm: float, minimum_mm: float
) -> list[dict[str, float]]:
    """Each run of thickened rows: its heights above the bed and how thin the picture had it."""
    labels, _ = ndimage.label(thickened)
    rows = len(radius)
    out = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        top, bottom = box[0].start, box[0].stop
        thinnest = 2 * float(radius[top:bottom][labels[top:bottom] == index].min()) * pixel_mm
        out.append(
            {
                "from_z_mm": round((rows - bottom) * pixel_mm, 1),
                "to_z_mm": round((rows - top) * pixel_mm, 1),
                "thinnest_mm": round(thinnest, 2),
                "now_mm": minimum_mm,
            }
        )
    return out


def mesh_plan(
    radius: np.ndarray, pixel_mm: float, target_faces: int, *, hollow: bool, wrap: Wrap
) -> tuple[int, Profile]:
    """Segments per turn and the profile's points, within the face budget.

    The segments keep the chordal error within :data:`CHORD_ERROR_MM` (and at least
    :data:`MIN_SEGMENTS`, so it looks round), and when the picture has detail across the body,
    the vertices about :data:`COLOUR_STEP_MM` apart around its widest part. The profile keeps
    every point needed to stay within :data:`PROFILE_TOLERANCE_MM` of the smoothed curve (steps
    stay sharp), plus, when the picture has detail along the height, evenly spaced rings for it as
    far as the budget allows.
    """
    rows = len(radius)
    height = rows * pixel_mm
    z = np.concatenate([[0.0], (np.arange(rows) + 0.5) * pixel_mm, [height]])
    r = (
        np.concatenate([[_edge(radius[-1], radius[-2])], radius[::-1], [_edge(radius[0], radius[1])]])
        * pixel_mm
    )
    widest = float(r.max())
    surfaces = 2 if hollow else 1
    budget = BUDGET_SHARE * target_faces / (2 * surfaces)  # points × segments
    tolerance = PROFILE_TOLERANCE_MM
    keep = _simplified(z, r, tolerance)
    chord = segments_for(widest, CHORD_ERROR_MM, minimum=MIN_SEGMENTS)
    around = int(4 * np.ceil(2 * np.pi * widest / COLOUR_STEP_MM / 4)) if wrap.across else chord
    segments = max(chord, min(around, int(budget / max(len(keep), 1)) // 4 * 4))
    while len(keep) * segments > budget and tolerance < 0.5:  # a tiny budget: coarser profile
        tolerance *= 2
        keep = _simplified(z, r, tolerance)
    if len(keep) * segments > budget:
        segments = max(16, int(budget / len(keep)) // 4 * 4)
    rings = int(budget / segments) - len(keep) if wrap.along else 0
    if rings > 0:
        spacing = max(height / rings, RING_MIN_MM, pixel_mm)
        extra = np.arange(spacing / 2, height, spacing)
        near = np.min(np.abs(extra[:, None] - z[keep][None, :]), axis=1) < spacing / 2
        ring_z = extra[~near]
        points_z = np.concatenate([z[keep], ring_z])
        points_r = np.concatenate([r[keep], np.interp(ring_z, z, r)])
        order = np.argsort(points_z, kind="stable")
        return segments, Profile(points_z[order], points_r[order])
    return segments, Profile(z[keep], r[keep])


def _edge(end: float, inward: float) -> float:
    """The half-width at the outline's top or bottom edge, half a row beyond the last row's centre.

    The square of the half-width is carried on linearly: a dome (r² grows linearly from its pole)
    closes to a point, a flat top or bottom stays as wide, a flared lip flares a little more.
    """
    change = abs(end - inward)
    edge = float(np.sqrt(max(end**2 + (end**2 - inward**2) / 2, 0.0)))
    return float(np.clip(edge, end - 2 * change, end + 2 * change))


def _simplified(z: np.ndarray, r: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the profile points Douglas–Peucker keeps at ``tolerance`` (mm; ends always)."""
    points = np.column_stack([r, z])
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    pending = [(0, len(points) - 1)]
    while pending:
        first, last = pending.pop()
        if last - first < 2:
            continue
        chord = points[last] - points[first]
        offsets = points[first + 1 : last] - points[first]
        length = float(np.hypot(*chord))
        if length > 0:
            distance = np.abs(chord[0] * offsets[:, 1] - chord[1] * offsets[:, 0]) / length
        else:
            distance = np.hypot(offsets[:, 0], offsets[:, 1])
        worst = int(np.argmax(distance))
        if distance[worst] > tolerance:
            split = first + 1 + worst
            keep[split] = True
            pending += [(first, split), (split, last)]
    return np.nonzero(keep)[0]


@dataclass(frozen=True)
class Wrap:
    """The picture as it is wrapped around the body: its colours over the subject's crop (the rim
    and the background filled from inside), and whether they change across the body (then the
    turn needs more segments) and along its height (then the profile needs more rings)."""

    colours: np.ndarray
    across: bool
    along: bool


def picture_wrap(rgba: np.ndarray, mask_shape: tuple[int, ...], view: SideView) -> Wrap:
    """The colours to wrap around the body, from the picture inside the body's rim.

    The rim is left out: where the view grazes the surface, a drawing has its outline and a photo
    its background bleeding in, neither of which is painted on the object.
    """
    mh, mw = mask_shape[:2]
    top, left = view.origin
    rows, cols = view.body.shape
    picture = cv2.resize(rgba, (mw, mh), interpolation=cv2.INTER_AREA) if rgba.shape[:2] != (mh, mw) else rgba
    crop = picture[top : top + rows, left : left + cols]
    rim = max(2, round(RIM_SHARE * 2 * float(np.max(view.left + view.right) / 2)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1, 2 * rim + 1))
    inner = cv2.erode(view.body.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    inner &= crop[..., 3] >= 128  # the mask's smoothing fills notches the picture left transparent
    source = inner if inner.any() else view.body
    colours = crop[..., :3]
    if source.any() and not source.all():
        _, (ri, ci) = ndimage.distance_transform_edt(~source, return_indices=True)
        colours = colours[ri, ci]
    values = colours.astype(np.int16)
    along = np.abs(np.diff(values, axis=0)).sum(axis=-1) > COLOUR_EDGE
    across = np.abs(np.diff(values, axis=1)).sum(axis=-1) > COLOUR_EDGE
    area = max(1, np.count_nonzero(source))
    return Wrap(
        colours=np.ascontiguousarray(colours),
        across=np.count_nonzero(across & source[:, 1:] & source[:, :-1]) / area > COLOUR_DETAIL,
        along=np.count_nonzero(along & source[1:] & source[:-1]) / area > COLOUR_DETAIL,
    )


def wrapped_colours(vertices: np.ndarray, wrap: Wrap, view: SideView, pixel_mm: float) -> np.ndarray:
    """Each vertex takes the colour the picture has where the vertex is seen from the front (so
    the front of a bottle shows its label); the back, seen from behind, mirrors the front."""
    height = view.rows * pixel_mm
    columns = view.axis + vertices[:, 0] / pixel_mm - 0.5
    heights = (height - vertices[:, 2]) / pixel_mm - 0.5
    sampled = np.column_stack(
        [
            ndimage.map_coordinates(wrap.colours[..., c], [heights, columns], order=1, mode="nearest")
            for c in range(3)
        ]
    )
    return np.column_stack([sampled, np.full(len(sampled), 255)]).astype(np.uint8)


def revolve_fidelity(mesh: trimesh.Trimesh, intent: RevolveIntent) -> dict[str, Any]:
    """How well a turned mesh matches its picture, seen from the front.

    The mesh is taken as standing on z = 0 with its axis at the centre of its x–y bounds (as it
    is built, and as the pipeline places it on the bed), so this works on the final mesh too.

    * ``silhouette_iou``: the mesh's front outline (its horizontal section's x extent at each
      row's height) against the subject's mask, as an IoU;
    * ``radial_deviation_mm``: the mesh's radius against the picture's half-width, per row, on the
      rows not thickened on purpose (mean, 95th percentile, max);
    * ``roundness``: the mesh's depth (y extent) over its width (x extent).
    """
    low, high = mesh.bounds
    centre = (low[:2] + high[:2]) / 2
    rows, width = intent.mask.shape
    heights = low[2] + (rows - np.arange(rows) - 0.5) * intent.pixel_mm
    extents = section_extents(mesh, heights)
    x_low, x_high = extents[:, 0] - centre[0], extents[:, 1] - centre[0]
    x = (np.arange(width) + 0.5 - intent.axis) * intent.pixel_mm
    with np.errstate(invalid="ignore"):
        front = (x[None, :] >= x_low[:, None]) & (x[None, :] <= x_high[:, None])
    union = np.count_nonzero(front | intent.mask) + intent.outside
    iou = np.count_nonzero(front & intent.mask) / max(union, 1)
    mesh_radius = np.nan_to_num((x_high - x_low) / 2)
    deviation = np.abs(mesh_radius - intent.radius * intent.pixel_mm)[~intent.thickened]
    if len(deviation) == 0:
        deviation = np.zeros(1)
    span = high - low
    return {
        "view": "front",
        "silhouette_iou": round(float(iou), 4),
        "radial_deviation_mm": {
            "mean": round(float(deviation.mean()), 4),
            "p95": round(float(np.percentile(deviation, 95)), 4),
            "max": round(float(deviation.max()), 4),
        },
        "roundness": round(float(span[1] / span[0]) if span[0] > 0 else 0.0, 4),
    }
