"""Does the model look like the picture? The final mesh compared with what the engine meant to build.

An engine hands over an :class:`Intent` with its mesh: the intended top surface as a height field
on a pixel grid in millimetres, and the subject's mask seen from above (an engine that only knows
a silhouette, such as a neural one, gives the mask alone). :func:`measure` renders the final mesh
from above on the same grid (:mod:`orfeas.mesh.raster`) and reports:

* ``silhouette_iou`` — intersection over union of the mesh's subject seen from above and the
  intended mask (on a base plate, the subject is what stands above the plate);
* surface deviation in mm, max and mean, both ways — from each point of the mesh's top surface to
  the intended surface, and from each point of the intended surface to the mesh;
* ``stray`` — top-surface area more than :data:`STRAY_MM` off the intended surface (mm² and share).

How a deviation is measured: the vertical distance from a point to the range of heights the other
surface takes within one grid pixel of it (its 3 × 3 neighbourhood; where that neighbourhood
reaches past the other surface's silhouette, its wall is there and the range reaches down to the
bed). On flat parts that is the plain height difference; on steep flanks and at walls a
horizontal shift of up to one pixel — the grid's own resolution — costs nothing, so an outline
smoothed by a fraction of a pixel is not a deviation, while a shard standing over the plate or a
triangle ramping across a gap is. A point with no surface of the other kind within one pixel
counts its horizontal distance to the nearest one (which then exceeds a pixel).

A model beyond the bound (:func:`deviation_bound_mm`) fails like a non-manifold one:
:func:`require_faithful` raises :class:`~orfeas.errors.MeshInvalid` and the model is never written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import trimesh
from scipy import ndimage

from orfeas.errors import MeshInvalid
from orfeas.mesh.raster import PixelGrid, height_map
from orfeas.mesh.texture import PlanarTexture
from orfeas.settings import Settings

#: Top-surface points farther than this from the intended surface are stray (mm).
STRAY_MM = 0.3
#: On a plate, the subject seen from above is what stands this much above the plate (mm).
RAISED_MM = 0.1


@dataclass(frozen=True)
class Intent:
    """What an engine meant to build, seen from above.

    ``mask`` (bool, ``grid.shape``): the subject. ``height`` (mm, same shape): the intended top
    surface, NaN where there is no material; ``None`` when the engine knows only the silhouette.
    ``plate_mm``: the top of a base plate the subject stands on (``None``: no plate).
    ``view``: ``"top"`` (seen from +z, the relief engine) or ``"front"`` (the picture is the view
    from −y, as for neural engines). ``fit``: the placement is unknown, so the mask's bounding box
    is fitted to the mesh's silhouette. ``texture``: the picture laid over the same frame.
    """

    grid: PixelGrid
    mask: np.ndarray
    height: np.ndarray | None = None
    plate_mm: float | None = None
    view: Literal["top", "front"] = "top"
    fit: bool = False
    texture: PlanarTexture | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def moved(self, offset: np.ndarray | tuple[float, float, float]) -> Intent:
        """The same intent after the mesh was translated by ``offset`` (x, y, z in mm)."""
        if self.fit:
            return self
        dx, dy, dz = (float(v) for v in offset)
        return replace(
            self,
            grid=self.grid.moved(dx, dy),
            height=None if self.height is None else self.height + dz,
            plate_mm=None if self.plate_mm is None else self.plate_mm + dz,
            texture=None if self.texture is None else self.texture.moved(dx, dy),
        )

    @property
    def depth_mm(self) -> float:
        """How high the intended top surface rises from its lowest to its highest point."""
        if self.height is None or not np.isfinite(self.height).any():
            return 0.0
        return float(np.nanmax(self.height) - np.nanmin(self.height))


@dataclass(frozen=True)
class Fidelity:
    """The figures of :func:`measure`; deviations are ``None`` when only a silhouette was known."""

    silhouette_iou: float
    mesh_to_intent_max_mm: float | None
    mesh_to_intent_mean_mm: float | None
    intent_to_mesh_max_mm: float | None
    intent_to_mesh_mean_mm: float | None
    stray_area_mm2: float | None
    stray_share: float | None
    bound_mm: float | None
    resolution_mm: float
    view: str

    @property
    def max_deviation_mm(self) -> float | None:
        if self.mesh_to_intent_max_mm is None or self.intent_to_mesh_max_mm is None:
            return None
        return max(self.mesh_to_intent_max_mm, self.intent_to_mesh_max_mm)

    @property
    def within_bound(self) -> bool:
        worst = self.max_deviation_mm
        return worst is None or self.bound_mm is None or worst <= self.bound_mm

    def as_dict(self) -> dict[str, Any]:
        """The report's ``fidelity`` block."""

        def mm(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "silhouette_iou": round(self.silhouette_iou, 4),
            "deviation_mm": {
                "mesh_to_intent": {
                    "max": mm(self.mesh_to_intent_max_mm),
                    "mean": mm(self.mesh_to_intent_mean_mm),
                },
                "intent_to_mesh": {
                    "max": mm(self.intent_to_mesh_max_mm),
                    "mean": mm(self.intent_to_mesh_mean_mm),
                },
            },
            "stray_area_mm2": None if self.stray_area_mm2 is None else round(self.stray_area_mm2, 2),
            "stray_share": None if self.stray_share is None else round(self.stray_share, 4),
            "stray_threshold_mm": STRAY_MM,
            "bound_mm": mm(self.bound_mm),
            "within_bound": self.within_bound,
            "resolution_mm": round(self.resolution_mm, 4),
            "view": self.view,
        }

    def score(self) -> float:
        """The quality score's fidelity part in [0, 1] (see :mod:`orfeas.mesh.report`)."""
        silhouette = float(np.clip((self.silhouette_iou - 0.5) / 0.5, 0.0, 1.0))
        stray = 1.0 if self.stray_share is None else float(np.clip(1.0 - 4.0 * self.stray_share, 0.0, 1.0))
        return silhouette * stray


def deviation_bound_mm(intent: Intent, floor_mm: float = 0.2, depth_share: float = 0.02) -> float:
    """The largest deviation a model may have: ``max(floor_mm, depth_share × relief depth)``."""
    return max(floor_mm, depth_share * intent.depth_mm)


def allowed_deviation_mm(depth_mm: float, settings: Settings) -> float:
    """The bound ``settings`` set for a relief ``depth_mm`` deep (what :func:`faithful` enforces)."""
    return max(settings.fidelity_bound_mm, settings.fidelity_bound_depth_share * depth_mm)


def measure(
    vertices: np.ndarray, faces: np.ndarray, intent: Intent, bound_mm: float | None = None
) -> Fidelity:
    """Compare a mesh (millimetres, placed where the intent says) with what was meant."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if intent.view == "front":
        # Seen from −y with +z up: render (x, z) as the plane and −y as the height.
        vertices = np.column_stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]])
    mask, grid = intent.mask.astype(bool), intent.grid
    if intent.fit:
        mask, grid = _fitted(mask, vertices)
    seen = height_map(vertices, faces, grid)
    subject = seen.covered
    if intent.plate_mm is not None and not intent.fit:
        subject = subject & (seen.height > intent.plate_mm + RAISED_MM)
    union = np.count_nonzero(subject | mask)
    iou = np.count_nonzero(subject & mask) / union if union else 0.0
    if intent.height is None or intent.fit:
        return Fidelity(iou, None, None, None, None, None, None, None, grid.pixel_mm, intent.view)

    to_intent = _distances(seen.height, seen.covered, intent.height, grid.pixel_mm)
    to_mesh = _distances(intent.height, np.isfinite(intent.height), seen.height, grid.pixel_mm)
    stray = to_intent > STRAY_MM
    top_pixels = max(1, np.count_nonzero(seen.covered))
    return Fidelity(
        silhouette_iou=iou,
        mesh_to_intent_max_mm=_max(to_intent),
        mesh_to_intent_mean_mm=_mean(to_intent),
        intent_to_mesh_max_mm=_max(to_mesh),
        intent_to_mesh_mean_mm=_mean(to_mesh),
        stray_area_mm2=float(np.count_nonzero(stray)) * grid.pixel_mm**2,
        stray_share=float(np.count_nonzero(stray)) / top_pixels,
        bound_mm=bound_mm,
        resolution_mm=grid.pixel_mm,
        view=intent.view,
    )


def require_faithful(fidelity: Fidelity) -> None:
    """Raise :class:`MeshInvalid` when the mesh strays from what was meant beyond the bound."""
    if fidelity.within_bound:
        return
    worst = fidelity.max_deviation_mm
    raise MeshInvalid(
        f"The mesh does not match what was meant to be built: its surface is up to {worst:.2f} mm off "
        f"the intended one (allowed: {fidelity.bound_mm:.2f} mm)."
    )


def faithful(mesh: trimesh.Trimesh, intent: Intent, settings: Settings) -> Fidelity:
    """Measure a finished mesh against its intent with the bound from ``settings``, and raise
    :class:`MeshInvalid` when it strays beyond it (see :func:`require_faithful`)."""
    bound = allowed_deviation_mm(intent.depth_mm, settings)
    fidelity = measure(np.asarray(mesh.vertices), np.asarray(mesh.faces), intent, bound)
    require_faithful(fidelity)
    return fidelity


def within_a_pixel(
    source: np.ndarray, present: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each ``present`` pixel of ``source``: the vertical distance to the range ``target``
    takes within one pixel of it, and whether ``target`` has any surface there at all."""
    has_target = np.isfinite(target)
    # A neighbour without surface means the target's wall is within a pixel: it reaches down from
    # the neighbours' tops, so the range has no lower end there.
    filled = np.where(has_target, target, -np.inf)
    low = ndimage.minimum_filter(filled, size=3, mode="constant", cval=-np.inf)[present]
    high = ndimage.maximum_filter(filled, size=3, mode="constant", cval=-np.inf)[present]
    z = source[present]
    near = np.isfinite(high)
    return np.where(near, np.maximum(np.maximum(low - z, z - high), 0.0), 0.0), near


def _distances(source: np.ndarray, present: np.ndarray, target: np.ndarray, pixel_mm: float) -> np.ndarray:
    """For each ``present`` pixel of ``source``: its distance to ``target`` (see the module doc)."""
    out, near = within_a_pixel(source, present, target)
    if not near.all():
        has_target = np.isfinite(target)
        if has_target.any():
            away = ndimage.distance_transform_edt(~has_target) * pixel_mm
            out[~near] = away[present][~near]
        else:  # nothing at all to compare with: as far as the grid reaches
            out[~near] = float(np.hypot(*target.shape)) * pixel_mm
    return out


def _fitted(mask: np.ndarray, vertices: np.ndarray) -> tuple[np.ndarray, PixelGrid]:
    """The mask cropped to its subject and a grid laying it over the mesh's silhouette box."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return mask, PixelGrid(mask.shape, 1.0, (0.0, 0.0))
    crop = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    low, high = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    span = high - low
    pixel = max(span[0] / crop.shape[1], span[1] / crop.shape[0], 1e-9)
    centre = (low + high) / 2
    origin = (centre[0] - crop.shape[1] * pixel / 2, centre[1] + crop.shape[0] * pixel / 2)
    return crop, PixelGrid(crop.shape, float(pixel), (float(origin[0]), float(origin[1])))


def _max(values: np.ndarray) -> float:
    return float(values.max()) if values.size else 0.0


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0
