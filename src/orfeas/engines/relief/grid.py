"""The working grid of the ``relief`` engine: where it sits in the picture, the subject's mask, and
sampling the picture onto it (luminance, surface detail, vertex colours).

Every mode builds on a :class:`Grid`: a crop box in picture fractions plus a boolean mask of
cells, sized for the face budget.
"""

from __future__ import annotations

import cv2
import numpy as np
import trimesh
from scipy import ndimage

from orfeas.engines.base import EngineInput
from orfeas.engines.relief.parameters import WORKING_SIDE
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask, MaskSource, alpha_is_meaningful, subject_mask
from orfeas.mesh.heightfield import fix_pinches
from orfeas.settings import Settings

#: Modes that build the whole picture, so no subject mask is needed.
WHOLE_PICTURE = frozenset({"lithophane"})
#: Grid cells per requested face: the mesh is built at about 3× the target and simplified.
CELLS_PER_FACE = 0.75


class Grid:
    """Where the working grid sits in the picture: a crop box (in picture pixels) and a mask."""

    def __init__(self, box: tuple[float, float, float, float], mask: np.ndarray) -> None:
        self.box = box  # top, left, bottom, right as fractions of the picture's height and width
        self.mask = mask

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    @classmethod
    def whole(cls, shape: tuple[int, int], side: int) -> Grid:
        h, w = shape
        scale = side / max(h, w)
        gh, gw = max(2, round(h * scale)), max(2, round(w * scale))
        return cls((0.0, 0.0, 1.0, 1.0), np.ones((gh, gw), dtype=bool))


def find_mask(
    rgba: np.ndarray, mode: str, mask: MaskSource, edit: np.ndarray | None, settings: Settings
) -> ForegroundMask | None:
    """The subject's mask for a mode (``None`` where the mode builds the whole picture), on a copy
    of at most :data:`~orfeas.engines.relief.parameters.WORKING_SIDE` px, with the user's edit
    applied; no subject is an input error."""
    if mode in WHOLE_PICTURE:
        return None
    if mode == "heightmap" and mask == "auto" and edit is None:
        # A height image is the whole rectangle unless it has transparency or a cut-out is asked for.
        if not alpha_is_meaningful(rgba[..., 3]):
            return None
        mask = "alpha"
    return subject_mask(rgba, mask, settings, edit=edit, side=WORKING_SIDE)


def subject_grid(
    found: ForegroundMask | None, target_faces: int, *, margin: float = 0.0, plate: bool = False
) -> Grid:
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
    return Grid((top / mh, left / mw, bottom / mh, right / mw), grid)


def picture_box(rgba: np.ndarray, crop: Grid) -> tuple[int, int, int, int]:
    """The crop box in picture pixels, at least one pixel each way."""
    h, w = rgba.shape[:2]
    top, left, bottom, right = crop.box
    t, lft = int(np.floor(top * h)), int(np.floor(left * w))
    return t, lft, max(int(np.ceil(bottom * h)), t + 1), max(int(np.ceil(right * w)), lft + 1)


def resample(rgba: np.ndarray, crop: Grid, shape: tuple[int, int] | None = None) -> np.ndarray:
    top, left, bottom, right = picture_box(rgba, crop)
    region = rgba[top:bottom, left:right]
    gh, gw = shape or crop.shape
    shrink = region.shape[0] > gh or region.shape[1] > gw
    return cv2.resize(region, (gw, gh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def luminance(rgba: np.ndarray, crop: Grid, *, over_white: bool) -> np.ndarray:
    """Luminance in [0, 1] on the grid; transparent pixels count as white when ``over_white``."""
    cells = resample(rgba, crop).astype(np.float32) / 255.0
    grey = cells[..., 0] * 0.299 + cells[..., 1] * 0.587 + cells[..., 2] * 0.114
    if over_white:
        alpha = cells[..., 3]
        grey = grey * alpha + (1.0 - alpha)
    return grey


def colour_source(source: EngineInput) -> np.ndarray:
    """The picture whose colours the model takes; typeset text becomes dark glyphs on a light plate."""
    if source.source != "text":
        return source.rgba
    alpha = source.rgba[..., 3]
    out = np.empty_like(source.rgba)
    ink = alpha >= 128
    out[..., :3] = np.where(ink[..., None], 40, 235)
    out[..., 3] = alpha
    return out


def finish(
    mesh: trimesh.Trimesh, rgba: np.ndarray, crop: Grid, size_mm: float, rect: bool = False
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
    mesh.visual.vertex_colors = vertex_colours(vertices, rgba, crop, size_mm, rect)
    return mesh


def vertex_colours(
    vertices: np.ndarray, rgba: np.ndarray, crop: Grid, size_mm: float, rect: bool
) -> np.ndarray:
    """Sample the picture under each vertex (background filled from the nearest subject pixel)."""
    top, left, bottom, right = picture_box(rgba, crop)
    side = 512
    scale = min(1.0, side / max(bottom - top, right - left))
    ch, cw = max(1, round((bottom - top) * scale)), max(1, round((right - left) * scale))
    colour = resample(rgba, crop, (ch, cw))
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


def luminance_detail(rgba: np.ndarray, crop: Grid, amount_mm: float, fade: np.ndarray) -> np.ndarray:
    """Band-pass luminance (difference of Gaussians), brighter raised, faded toward the outline."""
    if amount_mm <= 0:
        return np.zeros(crop.shape)
    grey = luminance(rgba, crop, over_white=False)
    band = cv2.GaussianBlur(grey, (0, 0), 0.8) - cv2.GaussianBlur(grey, (0, 0), 4.0)
    spread = float(np.std(band[crop.mask])) if crop.mask.any() else 0.0
    if spread < 1e-4:
        return np.zeros(crop.shape)
    return np.clip(band / (3 * spread), -1.0, 1.0) * amount_mm * fade
