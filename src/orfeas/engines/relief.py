"""``relief``: the classical CPU engine — a picture becomes a solid without any model weights.

Modes:

* ``puffy`` — the silhouette inflated into a rounded body: solve −Δu = 4 inside the mask with
  u = 0 on the outline and take h = √u, so a disc becomes an exact hemisphere. The back is a
  mirror of the front at ``back_ratio`` or flat.
* ``relief`` — a bas-relief: the subject raised ``depth_mm`` from a flat back, on a base plate
  of ``base_mm`` (0: no plate, the subject alone).
* ``lithophane`` — the whole picture; darker is thicker, from ``min_thickness_mm`` to
  ``max_thickness_mm``, with an optional frame. Meant to be printed in white and held to light.
* ``heightmap`` — the picture already is a height or depth image (brighter is higher).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
import pyamg
import trimesh
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

from orfeas.engines.base import Availability, EngineInput, EngineOutput, ProgressCallback, no_progress
from orfeas.errors import InputRejected
from orfeas.imaging.background import background_remover
from orfeas.imaging.mask import ForegroundMask, foreground_mask
from orfeas.mesh.heightfield import corner_heights, distance_inside, fix_pinches, masked_solid, slab

Mode = Literal["puffy", "relief", "lithophane", "heightmap"]

#: Longest side of the copy the mask is found on.
MASK_SIDE = 768
#: Below this many unknowns a direct sparse solve is as fast as multigrid.
SMALL_SYSTEM = 4_000
#: Grid cells per requested face: the mesh is built at about 3× the target and simplified.
CELLS_PER_FACE = 0.75
#: A lithophane pixel need not be finer than this (a 0.4 mm nozzle cannot print finer).
LITHOPHANE_PIXEL_MM = 0.1


def _for(*modes: str, unit: str | None = None, advanced: bool = False) -> dict[str, Any]:
    """Schema extras the studio reads: which modes use a parameter (shown only for those), its unit,
    and whether it belongs in the folded "advanced" group."""
    extra: dict[str, Any] = {"modes": list(modes)}
    if unit:
        extra["unit"] = unit
    if advanced:
        extra["advanced"] = True
    return extra


class ReliefParameters(BaseModel):
    """Parameters of the ``relief`` engine; each says which modes use it."""

    model_config = ConfigDict(extra="forbid", title="relief parameters")

    mode: Mode = Field("puffy", description="What kind of object to make from the picture.")
    size_mm: float = Field(
        80.0,
        ge=5,
        le=500,
        description="Longest side of the object.",
        json_schema_extra=_for("puffy", "relief", "lithophane", "heightmap", unit="mm"),
    )
    inflation: float = Field(
        1.0,
        ge=0.1,
        le=3.0,
        description="How round the body is (1 = circular section).",
        json_schema_extra=_for("puffy"),
    )
    back: Literal["mirror", "flat"] = Field(
        "mirror",
        description="Mirror the front on the back, or keep it flat.",
        json_schema_extra=_for("puffy"),
    )
    back_ratio: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Depth of the mirrored back relative to the front.",
        json_schema_extra=_for("puffy"),
    )
    depth_mm: float = Field(
        4.0,
        ge=0.2,
        le=50,
        description="Height of the subject above the plate.",
        json_schema_extra=_for("relief", "heightmap", unit="mm"),
    )
    base_mm: float = Field(
        2.0,
        ge=0.0,
        le=20,
        description="Base plate thickness (0: no plate).",
        json_schema_extra=_for("relief", "heightmap", unit="mm"),
    )
    detail_mm: float = Field(
        0.4,
        ge=0.0,
        le=5,
        description="Surface detail from the picture's light and dark.",
        json_schema_extra=_for("puffy", "relief", unit="mm"),
    )
    rim_mm: float = Field(
        0.8,
        ge=0.2,
        le=10,
        description="Thickness at the outline (no knife edges).",
        json_schema_extra=_for("puffy", "relief", unit="mm", advanced=True),
    )
    min_thickness_mm: float = Field(
        0.8,
        ge=0.3,
        le=10,
        description="Thickness of the lightest pixels.",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    max_thickness_mm: float = Field(
        3.0,
        ge=0.5,
        le=20,
        description="Thickness of the darkest pixels.",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    frame_mm: float = Field(
        3.0,
        ge=0.0,
        le=30,
        description="Width of a frame around the picture (0: none).",
        json_schema_extra=_for("lithophane", unit="mm"),
    )
    invert: bool = Field(
        False, description="Swap light and dark.", json_schema_extra=_for("lithophane", "heightmap")
    )
    target_faces: int = Field(
        50_000,
        ge=1_000,
        le=1_000_000,
        description="Triangles in the finished mesh.",
        json_schema_extra=_for("puffy", "relief", "lithophane", "heightmap", advanced=True),
    )

    @field_validator("max_thickness_mm")
    @classmethod
    def _thicker_than_min(cls, value: float, info: ValidationInfo) -> float:
        # A field validator (not a model one) so the error names the field a person must change.
        low = info.data.get("min_thickness_mm")
        if low is not None and value <= low:
            raise ValueError(f"must be greater than min_thickness_mm ({low:g} mm)")
        return value


class ReliefEngine:
    """The classical engine; always available, deterministic, CPU only."""

    name: ClassVar[str] = "relief"
    version: ClassVar[str] = "1.0"
    parameters_model: ClassVar[type[BaseModel]] = ReliefParameters

    def availability(self) -> Availability:
        return Availability(True)

    def generate(
        self, source: EngineInput, params: BaseModel, progress: ProgressCallback = no_progress
    ) -> EngineOutput:
        assert isinstance(params, ReliefParameters)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        rgba = _colour_source(source)
        notes: dict[str, Any] = {"mode": params.mode}

        progress("mask", 0.0)
        if params.mode == "lithophane":
            mask_info = None
        else:
            mask_info = _mask(rgba, params)
            notes.update(
                mask_method=mask_info.method,
                mask_confidence=round(mask_info.confidence, 3),
                mask_coverage=round(mask_info.coverage, 4),
            )
        timings["mask"], clock = time.perf_counter() - clock, time.perf_counter()

        progress("height", 0.0)
        if params.mode == "lithophane":
            mesh = _lithophane(rgba, params, progress)
        elif params.mode == "heightmap":
            mesh = _heightmap(rgba, mask_info, params, progress)
        elif params.mode == "relief":
            mesh = _relief(rgba, mask_info, params, progress)
        else:
            mesh = _puffy(rgba, mask_info, params, progress)
        timings["mesh"] = time.perf_counter() - clock
        return EngineOutput(mesh=mesh, units="mm", notes=notes, timings=timings)


# --- modes ---------------------------------------------------------------------------------------


def _puffy(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    crop = _subject_grid(found, p.target_faces)
    pixel_mm = p.size_mm / max(crop.mask.shape)
    u = solve_inflation(crop.mask)
    # √u rises steeply at the outline, where the cells' stair steps would show as pleats: a light
    # blur of the field (outside counts as 0) rounds them away without moving the outline.
    height = cv2.GaussianBlur(np.sqrt(u), (0, 0), 1.2) * pixel_mm * p.inflation
    front_cells = height + _detail(
        rgba, crop, p.detail_mm, fade=np.clip(height / max(p.detail_mm * 4, 1e-6), 0, 1)
    )
    front_cells = np.maximum(front_cells, 0.0)
    progress("mesh", 0.0)
    front = corner_heights(front_cells, crop.mask)
    if p.back == "flat":
        front, back = front + p.rim_mm, np.zeros_like(front)
    else:
        back = -(corner_heights(height * p.back_ratio, crop.mask) + p.rim_mm / 2)
        front = front + p.rim_mm / 2
    mesh = masked_solid(crop.mask, front, back, pixel_mm)
    return _finish(mesh, rgba, crop, p.size_mm)


def _relief(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    if p.base_mm <= 0:
        crop = _subject_grid(found, p.target_faces)
        pixel_mm = p.size_mm / max(crop.mask.shape)
        raised = _raised_profile(crop.mask, p, rgba, crop)
        progress("mesh", 0.0)
        front = corner_heights(raised, crop.mask) + p.rim_mm
        mesh = masked_solid(crop.mask, front, np.zeros_like(front), pixel_mm)
        return _finish(mesh, rgba, crop, p.size_mm)
    # On a plate: the whole (cropped) picture is the plate, the subject stands on it.
    crop = _subject_grid(found, p.target_faces, margin=0.04, plate=True)
    pixel_mm = p.size_mm / (max(crop.mask.shape) - 1)
    raised = np.where(crop.mask, _raised_profile(crop.mask, p, rgba, crop), 0.0)
    top = p.base_mm + raised
    progress("mesh", 0.0)
    mesh = slab(top, pixel_mm, max_error_mm=0.02, max_triangles=p.target_faces)
    return _finish(mesh, rgba, crop, p.size_mm, rect=True)


def _lithophane(rgba: np.ndarray, p: ReliefParameters, progress: ProgressCallback) -> trimesh.Trimesh:
    h, w = rgba.shape[:2]
    side = int(max(32, min(1024, max(h, w), round(p.size_mm / LITHOPHANE_PIXEL_MM))))
    crop = _Grid.whole(rgba.shape[:2], side)
    grey = _luminance(rgba, crop, over_white=True)
    if p.invert:
        grey = 1.0 - grey
    thickness = p.max_thickness_mm - (p.max_thickness_mm - p.min_thickness_mm) * grey
    pixel_mm = p.size_mm / (max(thickness.shape) - 1)
    frame = round(p.frame_mm / pixel_mm)
    if frame > 0:
        ring = np.ones_like(thickness, dtype=bool)
        ring[frame:-frame, frame:-frame] = False
        thickness[ring] = p.max_thickness_mm
    progress("mesh", 0.0)
    mesh = slab(thickness, pixel_mm, max_error_mm=0.03, max_triangles=p.target_faces)
    return _finish(mesh, rgba, crop, p.size_mm, rect=True)


def _heightmap(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    floor = 0.4  # no point of the part is thinner than this (mm)
    if found is not None and found.method == "alpha":
        crop = _subject_grid(found, p.target_faces)
        level = _luminance(rgba, crop, over_white=False)
        level = 1.0 - level if p.invert else level
        pixel_mm = p.size_mm / max(crop.mask.shape)
        cells = np.maximum(p.base_mm + p.depth_mm * level, floor)
        progress("mesh", 0.0)
        front = corner_heights(cells, crop.mask, outline="inside")
        # Outline corners average with outside cells: lift them back to the floor.
        front = np.maximum(front, floor)
        mesh = masked_solid(crop.mask, front, np.zeros_like(front), pixel_mm)
        return _finish(mesh, rgba, crop, p.size_mm)
    side = int(max(32, min(1024, max(rgba.shape[:2]))))
    crop = _Grid.whole(rgba.shape[:2], side)
    level = _luminance(rgba, crop, over_white=True)
    level = 1.0 - level if p.invert else level
    top = np.maximum(p.base_mm + p.depth_mm * level, floor)
    pixel_mm = p.size_mm / (max(top.shape) - 1)
    progress("mesh", 0.0)
    mesh = slab(top, pixel_mm, max_error_mm=0.02, max_triangles=p.target_faces)
    return _finish(mesh, rgba, crop, p.size_mm, rect=True)


# --- height fields -------------------------------------------------------------------------------


def solve_inflation(mask: np.ndarray) -> np.ndarray:
    """Solve −Δu = 4 on the mask's cells with u = 0 outside (unit grid spacing).

    For a disc of radius R the solution is u = R² − r², so √u is an exact hemisphere.
    """
    h, w = mask.shape
    index = np.full((h, w), -1, dtype=np.int64)
    n = int(mask.sum())
    index[mask] = np.arange(n)
    rows, cols = np.nonzero(mask)
    data, r_idx, c_idx = [np.full(n, 4.0)], [np.arange(n)], [np.arange(n)]
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        rr, cc = rows + dr, cols + dc
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        neighbour = np.full(n, -1, dtype=np.int64)
        neighbour[inside] = index[rr[inside], cc[inside]]
        ok = neighbour >= 0
        data.append(np.full(int(ok.sum()), -1.0))
        r_idx.append(np.arange(n)[ok])
        c_idx.append(neighbour[ok])
    matrix = sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(r_idx), np.concatenate(c_idx))), shape=(n, n)
    )
    rhs = np.full(n, 4.0)
    if n < SMALL_SYSTEM:
        values = spsolve(matrix.tocsc(), rhs)
    else:
        # Classical AMG with CG: 3× faster than a direct solve at 30k unknowns, and it scales.
        values = pyamg.ruge_stuben_solver(matrix).solve(rhs, tol=1e-9, accel="cg")
    u = np.zeros((h, w))
    u[mask] = np.maximum(values, 0.0)
    return u


def _raised_profile(mask: np.ndarray, p: ReliefParameters, rgba: np.ndarray, crop: _Grid) -> np.ndarray:
    """A plateau ``depth_mm`` high with rounded shoulders, plus surface detail."""
    shoulder = max(2.0, 0.02 * max(mask.shape))
    inside = np.clip(distance_inside(mask) / shoulder, 0.0, 1.0)
    profile = np.sqrt(inside) * p.depth_mm
    return np.maximum(profile + _detail(rgba, crop, p.detail_mm, fade=inside), 0.0)


def _detail(rgba: np.ndarray, crop: _Grid, amount_mm: float, fade: np.ndarray) -> np.ndarray:
    """Band-pass luminance (difference of Gaussians), brighter raised, faded toward the outline."""
    if amount_mm <= 0:
        return np.zeros(crop.shape)
    grey = _luminance(rgba, crop, over_white=False)
    band = cv2.GaussianBlur(grey, (0, 0), 0.8) - cv2.GaussianBlur(grey, (0, 0), 4.0)
    spread = float(np.std(band[crop.mask])) if crop.mask.any() else 0.0
    if spread < 1e-4:
        return np.zeros(crop.shape)
    return np.clip(band / (3 * spread), -1.0, 1.0) * amount_mm * fade


# --- grids, masks, colour ------------------------------------------------------------------------


class _Grid:
    """Where the working grid sits in the picture: a crop box (in picture pixels) and a mask."""

    def __init__(self, box: tuple[float, float, float, float], mask: np.ndarray) -> None:
        self.box = box  # top, left, bottom, right as fractions of the picture's height and width
        self.mask = mask

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    @classmethod
    def whole(cls, shape: tuple[int, int], side: int) -> _Grid:
        h, w = shape
        scale = side / max(h, w)
        gh, gw = max(2, round(h * scale)), max(2, round(w * scale))
        return cls((0.0, 0.0, 1.0, 1.0), np.ones((gh, gw), dtype=bool))


def _mask(rgba: np.ndarray, p: ReliefParameters) -> ForegroundMask:
    h, w = rgba.shape[:2]
    scale = min(1.0, MASK_SIDE / max(h, w))
    small = (
        rgba
        if scale == 1.0
        else cv2.resize(
            rgba, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    )
    smooth = 1.5 if max(small.shape[:2]) >= 64 else 0.0
    found = foreground_mask(small, smooth_px=smooth, remover=background_remover())  # rembg when set up
    if not found.mask.any():
        raise InputRejected("No subject could be found in the picture.", code="no_subject")
    return found


def _subject_grid(
    found: ForegroundMask | None, target_faces: int, *, margin: float = 0.0, plate: bool = False
) -> _Grid:
    """The working grid over the subject's bounding box, sized for the face budget."""
    assert found is not None
    mask = found.mask
    mh, mw = mask.shape
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad = round(margin * max(bottom - top, right - left))
    top, left = max(0, top - pad), max(0, left - pad)
    bottom, right = min(mh, bottom + pad), min(mw, right + pad)
    sub = mask[top:bottom, left:right].astype(np.float32)
    bh, bw = sub.shape
    budget = max(2_000.0, CELLS_PER_FACE * target_faces)
    coverage = 1.0 if plate else max(float(sub.mean()), 0.05)
    if plate:
        budget *= 4  # a plate's flat areas cost the adaptive triangulation almost nothing
    scale = np.sqrt(budget / (bh * bw * coverage))
    scale = min(scale, 1024 / max(bh, bw))
    scale = max(scale, 32 / max(bh, bw))
    gh, gw = max(2, round(bh * scale)), max(2, round(bw * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    grid = cv2.resize(sub, (gw, gh), interpolation=interpolation) >= 0.5
    if not plate:
        grid = fix_pinches(grid)
    if not grid.any():
        raise InputRejected("The subject is too small to build.", code="no_subject")
    # The mask may be a reduced copy of the picture: keep the box as fractions of its sides.
    return _Grid((top / mh, left / mw, bottom / mh, right / mw), grid)


def _picture_box(rgba: np.ndarray, crop: _Grid) -> tuple[int, int, int, int]:
    """The crop box in picture pixels, at least one pixel each way."""
    h, w = rgba.shape[:2]
    top, left, bottom, right = crop.box
    t, lft = int(np.floor(top * h)), int(np.floor(left * w))
    return t, lft, max(int(np.ceil(bottom * h)), t + 1), max(int(np.ceil(right * w)), lft + 1)


def _resample(rgba: np.ndarray, crop: _Grid, shape: tuple[int, int] | None = None) -> np.ndarray:
    top, left, bottom, right = _picture_box(rgba, crop)
    region = rgba[top:bottom, left:right]
    gh, gw = shape or crop.shape
    shrink = region.shape[0] > gh or region.shape[1] > gw
    return cv2.resize(region, (gw, gh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _luminance(rgba: np.ndarray, crop: _Grid, *, over_white: bool) -> np.ndarray:
    """Luminance in [0, 1] on the grid; transparent pixels count as white when ``over_white``."""
    cells = _resample(rgba, crop).astype(np.float32) / 255.0
    grey = cells[..., 0] * 0.299 + cells[..., 1] * 0.587 + cells[..., 2] * 0.114
    if over_white:
        alpha = cells[..., 3]
        grey = grey * alpha + (1.0 - alpha)
    return grey


def _colour_source(source: EngineInput) -> np.ndarray:
    """The picture whose colours the model takes; typeset text becomes dark glyphs on a light plate."""
    if source.source != "text":
        return source.rgba
    alpha = source.rgba[..., 3]
    out = np.empty_like(source.rgba)
    ink = alpha >= 128
    out[..., :3] = np.where(ink[..., None], 40, 235)
    out[..., 3] = alpha
    return out


def _finish(
    mesh: trimesh.Trimesh, rgba: np.ndarray, crop: _Grid, size_mm: float, rect: bool = False
) -> trimesh.Trimesh:
    """Scale x and y so the longest side is exactly ``size_mm`` and paint the vertex colours."""
    low, high = mesh.bounds
    span = max(high[0] - low[0], high[1] - low[1])
    if span <= 0:
        raise InputRejected("The subject is too small to build.", code="no_subject")
    factor = size_mm / span
    vertices = mesh.vertices.copy()
    vertices[:, 0] = (vertices[:, 0] - low[0]) * factor
    vertices[:, 1] = (vertices[:, 1] - low[1]) * factor
    mesh = trimesh.Trimesh(vertices, mesh.faces, process=False)
    mesh.visual.vertex_colors = _vertex_colours(vertices, rgba, crop, size_mm, rect)
    return mesh


def _vertex_colours(
    vertices: np.ndarray, rgba: np.ndarray, crop: _Grid, size_mm: float, rect: bool
) -> np.ndarray:
    """Sample the picture under each vertex (background filled from the nearest subject pixel)."""
    top, left, bottom, right = _picture_box(rgba, crop)
    side = 512
    scale = min(1.0, side / max(bottom - top, right - left))
    ch, cw = max(1, round((bottom - top) * scale)), max(1, round((right - left) * scale))
    colour = _resample(rgba, crop, (ch, cw))
    solid = colour[..., 3] >= 128
    if not rect and solid.any() and not solid.all():
        _, (ri, ci) = ndimage.distance_transform_edt(~solid, return_indices=True)
        colour = colour[ri, ci]
    elif rect:
        alpha = colour[..., 3:4].astype(np.float32) / 255.0
        colour = colour.copy()
        colour[..., :3] = (colour[..., :3] * alpha + 235 * (1 - alpha)).astype(np.uint8)
    span_x, span_y = np.ptp(vertices[:, 0]), np.ptp(vertices[:, 1])
    fx = np.clip(vertices[:, 0] / max(span_x, 1e-9), 0, 1)
    fy = np.clip(1.0 - vertices[:, 1] / max(span_y, 1e-9), 0, 1)
    px = np.minimum((fx * cw).astype(int), cw - 1)
    py = np.minimum((fy * ch).astype(int), ch - 1)
    out = colour[py, px].copy()
    out[:, 3] = 255
    return out
