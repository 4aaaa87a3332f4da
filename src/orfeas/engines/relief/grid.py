"""The working grid of the ``relief`` engine: where it sits in the picture, the subject's mask, and
sampling the picture onto it (luminance, surface detail, colours).

Every mode builds on a :class:`Grid`: a box in picture fractions (it may reach past the picture,
for a plate's margin) with the subject's coverage on its cells, sized for the face budget. A
builder lays it out in millimetres as a :class:`~orfeas.mesh.raster.PixelGrid` and
:func:`finish` brings the mesh, its :class:`~orfeas.mesh.fidelity.Intent` and its colours to the
exact asked size together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import trimesh
from scipy import ndimage

from orfeas.engines.base import EngineInput
from orfeas.engines.relief.parameters import WORKING_SIDE
from orfeas.errors import InputRejected
from orfeas.imaging.mask import ForegroundMask, MaskSource, alpha_is_meaningful, subject_mask
from orfeas.mesh.fidelity import Intent, allowed_deviation_mm
from orfeas.mesh.outline import densified, spanning_links, trace
from orfeas.mesh.parts import Part
from orfeas.mesh.raster import PixelGrid
from orfeas.mesh.texture import PlanarTexture
from orfeas.settings import Settings

#: Modes that build the whole picture, so no subject mask is needed.
WHOLE_PICTURE = frozenset({"lithophane"})
#: Grid cells per requested face over the subject: the grid is what the mesh is built to and
#: compared with, so it is as fine as the face budget can follow.
CELLS_PER_FACE = 0.75
#: Longest side of the colour picture laid over a model (texture and vertex colours).
COLOUR_SIDE = 768
#: The plate's colour where the picture is transparent (and typeset text's plate), and the ink of
#: typeset text.
PLATE_GREY = 235
INK_GREY = 40
#: Bridges that join separate parts are this wide (mm).
BRIDGE_MM = 2.5
#: The longest segment of a height-field mode's outline, in cells.
OUTLINE_SEGMENT_CELLS = 16


class Grid:
    """Where the working grid sits in the picture: a box (fractions of the mask's height and
    width; it may reach outside [0, 1]), the subject's coverage in [0, 1] and its mask."""

    def __init__(self, box: tuple[float, float, float, float], coverage: np.ndarray) -> None:
        self.box = box  # top, left, bottom, right
        self.coverage = coverage.astype(np.float32)
        self.mask = self.coverage >= 0.5

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    def pixel_grid(self, pixel_mm: float) -> PixelGrid:
        """The grid laid out in millimetres, its bottom-left corner at the origin."""
        return PixelGrid(self.shape, pixel_mm, (0.0, self.shape[0] * pixel_mm))

    @classmethod
    def whole(cls, shape: tuple[int, int], side: int) -> Grid:
        h, w = shape
        scale = side / max(h, w)
        gh, gw = max(2, round(h * scale)), max(2, round(w * scale))
        return cls((0.0, 0.0, 1.0, 1.0), np.ones((gh, gw), dtype=np.float32))


@dataclass(frozen=True)
class Built:
    """What a mode's builder hands back: the closed mesh in mm, what it meant, its notes, and for
    a colour print the parts the mesh is the union of."""

    mesh: trimesh.Trimesh
    intent: Intent
    notes: dict[str, object]
    parts: list[Part] | None = None


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


def subject_grid(mask: np.ndarray, target_faces: int, *, margin: float = 0.0, plate: bool = False) -> Grid:
    """The working grid over the subject's bounding box (grown by ``margin`` × its longest side,
    past the picture's edge if need be), sized for the face budget."""
    mh, mw = mask.shape
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    pad = round(margin * max(bottom - top, right - left))
    top, left, bottom, right = top - pad, left - pad, bottom + pad, right + pad
    sub = _window(mask.astype(np.float32), top, left, bottom, right)
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
    cells = np.clip(cv2.resize(sub, (gw, gh), interpolation=interpolation), 0.0, 1.0)
    if not (cells >= 0.5).any():
        raise InputRejected("The subject is too small to build.", code="no_subject")
    # The mask may be a reduced copy of the picture: keep the box as fractions of its sides.
    return Grid((top / mh, left / mw, bottom / mh, right / mw), cells)


def subject_outline(crop: Grid, grid: PixelGrid, max_faces: int) -> list[np.ndarray]:
    """The subject's outline on the grid (mm), traced to 0.15 cell (the mask is known no better, and
    a looser outline would show in the silhouette) — up to 0.4 cell where a small face budget could
    not afford it (its walls and rim take about four faces per outline vertex), never more: the
    model is compared with the mask a cell at a time — with no segment longer than
    :data:`OUTLINE_SEGMENT_CELLS` cells."""
    tolerance = 0.15 * grid.pixel_mm
    contours = trace(crop.coverage, grid, tolerance_mm=tolerance)
    while sum(len(c) for c in contours) > max_faces / 8 and tolerance < 0.4 * grid.pixel_mm:
        tolerance *= 1.6
        contours = trace(crop.coverage, grid, tolerance_mm=tolerance)
    return densified(contours, OUTLINE_SEGMENT_CELLS * grid.pixel_mm)


def hard_error_mm(top: np.ndarray, settings: Settings) -> float:
    """How far off the mesher may leave a surface before it spends more than its face budget: well
    inside the bound verification will hold the model to (see :mod:`orfeas.mesh.fidelity`)."""
    finite = top[np.isfinite(top)]
    depth = float(finite.max() - finite.min()) if finite.size else 0.0
    return 0.6 * allowed_deviation_mm(depth, settings)


def joined(mask: np.ndarray, width_px: float) -> tuple[np.ndarray, int]:
    """``mask`` with its separate parts joined by straight bridges ``width_px`` wide, each between
    the nearest points of two parts (a minimum spanning tree), and the number of bridges."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask, 0
    edge = mask & ~ndimage.binary_erosion(mask)
    points = [np.column_stack(np.nonzero(edge & (labels == k))).astype(np.float64) for k in range(1, count)]
    links = spanning_links(points)
    out = mask.astype(np.uint8)
    thickness = max(1, round(width_px))
    for a, b in links:
        cv2.line(out, (int(a[1]), int(a[0])), (int(b[1]), int(b[0])), 1, thickness, lineType=cv2.LINE_8)
    return out.astype(bool), len(links)


def joined_subject(
    found: ForegroundMask | None, size_mm: float, join: bool
) -> tuple[np.ndarray, dict[str, object]]:
    """The subject's mask, its separate parts bridged when ``join`` (bridges :data:`BRIDGE_MM`
    wide at the final size), and notes saying how many parts there were and what joined them."""
    assert found is not None
    mask = found.mask
    rows, cols = np.nonzero(mask)
    side_px = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    parts = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
    notes: dict[str, object] = {"parts": int(parts)}
    if join and parts > 1:
        mask, bridges = joined(mask, BRIDGE_MM * side_px / size_mm)
        notes["joined_by"] = f"{bridges} bridge{'s' if bridges != 1 else ''}"
    return mask, notes


def picture_box(rgba: np.ndarray, crop: Grid) -> tuple[int, int, int, int]:
    """The crop box in picture pixels (may reach outside the picture), at least one pixel each way."""
    h, w = rgba.shape[:2]
    top, left, bottom, right = crop.box
    t, lft = int(np.floor(top * h)), int(np.floor(left * w))
    return t, lft, max(int(np.ceil(bottom * h)), t + 1), max(int(np.ceil(right * w)), lft + 1)


def resample(rgba: np.ndarray, crop: Grid, shape: tuple[int, int] | None = None) -> np.ndarray:
    """The picture under the grid's box (transparent outside the picture) at ``shape`` pixels."""
    top, left, bottom, right = picture_box(rgba, crop)
    region = _window(rgba, top, left, bottom, right)
    gh, gw = shape or crop.shape
    shrink = region.shape[0] > gh or region.shape[1] > gw
    return cv2.resize(region, (gw, gh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def luminance(rgba: np.ndarray, crop: Grid, *, over_white: bool) -> np.ndarray:
    """Luminance in [0, 1] on the grid; transparent pixels count as white when ``over_white``.

    Otherwise only the subject's own pixels count: colours are averaged weighted by their alpha
    (whatever colour a transparent pixel has is no part of the picture — at an anti-aliased edge
    it would make a rim of false light or dark), and cells with nothing solid take the nearest
    subject cell's."""
    picture = rgba.astype(np.float32) / 255.0
    grey = picture[..., 0] * 0.299 + picture[..., 1] * 0.587 + picture[..., 2] * 0.114
    alpha = picture[..., 3]
    if over_white:
        cells = resample(np.dstack([grey * alpha + (1.0 - alpha), alpha]), crop)
        return cells[..., 0]
    cells = resample(np.dstack([grey * alpha, alpha]), crop)
    weight = cells[..., 1]
    solid = weight > 1e-3
    out = cells[..., 0] / np.maximum(weight, 1e-3)
    if solid.any() and not solid.all():
        _, (ri, ci) = ndimage.distance_transform_edt(~solid, return_indices=True)
        out = out[ri, ci]
    return np.clip(out, 0.0, 1.0)


def colour_source(source: EngineInput) -> np.ndarray:
    """The picture whose colours the model takes; typeset text becomes dark glyphs on a light plate."""
    if source.source != "text":
        return source.rgba
    out = np.empty_like(source.rgba)
    out[..., :3] = INK_GREY  # the glyphs' colour; their alpha says how much of a pixel they cover
    out[..., 3] = source.rgba[..., 3]
    return out


def finish(
    mesh: trimesh.Trimesh,
    intent: Intent,
    rgba: np.ndarray,
    crop: Grid,
    size_mm: float,
    *,
    colours: str = "subject",
    notes: dict[str, object] | None = None,
    plate_mm: float | None = None,
    parts: list[Part] | None = None,
) -> Built:
    """Scale x and y so the longest side is exactly ``size_mm``, place the model's corner at the
    origin, and colour it; the intent (and the picture laid over it) and a colour print's
    ``parts`` (each in its own colour; ``mesh`` is their union) move along.

    ``colours``: ``"subject"`` (the subject's colours, spread past its outline so walls take the
    outline's colour), ``"picture"`` (the whole picture over a light plate, for lithophanes and
    height maps) or ``"plate"`` (the subject's colours on the subject, the picture over a light
    plate elsewhere); ``plate_mm``: vertices up to this height take the plate's colours (default:
    the intent's plate).
    """
    low, high = mesh.bounds
    span = max(high[0] - low[0], high[1] - low[1])
    if span <= 0:
        raise InputRejected("The subject is too small to build.", code="no_subject")
    factor = size_mm / span

    def placed_vertices(points: np.ndarray) -> np.ndarray:
        out = np.array(points, dtype=np.float64)
        out[:, 0] = (out[:, 0] - low[0]) * factor
        out[:, 1] = (out[:, 1] - low[1]) * factor
        return out

    vertices = placed_vertices(mesh.vertices)
    grid = intent.grid
    x0, y0 = grid.origin_mm
    placed = PixelGrid(grid.shape, grid.pixel_mm * factor, ((x0 - low[0]) * factor, (y0 - low[1]) * factor))
    subject_colour, plate_colour = colour_pictures(rgba, crop, colours)
    texture = PlanarTexture(
        subject_colour if colours != "plate" else _merged(subject_colour, plate_colour, crop), _frame(placed)
    )
    out = trimesh.Trimesh(vertices, mesh.faces, process=False)
    plate_top = intent.plate_mm if plate_mm is None else plate_mm
    out.visual.vertex_colors = vertex_colours(vertices, placed, subject_colour, plate_colour, plate_top)
    if parts is not None:
        parts = [
            replace(
                part,
                mesh=trimesh.Trimesh(placed_vertices(part.mesh.vertices), part.mesh.faces, process=False),
                shown_mm2=part.shown_mm2 * factor**2,
            )
            for part in parts
        ]
    intent = replace(intent, grid=placed, texture=texture)
    return Built(out, intent, dict(notes or {}), parts)


def colour_pictures(rgba: np.ndarray, crop: Grid, colours: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The colour picture(s) over the grid's box at up to :data:`COLOUR_SIDE` px, RGB: the subject's
    colours (the background filled from the nearest subject pixel) or the picture over a light
    plate; for ``"plate"`` both."""
    top, left, bottom, right = picture_box(rgba, crop)
    scale = min(1.0, COLOUR_SIDE / max(bottom - top, right - left))
    ch, cw = max(1, round((bottom - top) * scale)), max(1, round((right - left) * scale))
    picture = resample(rgba, crop, (ch, cw))
    solid = picture[..., 3] >= 128
    alpha = picture[..., 3:4].astype(np.float32) / 255.0
    over_plate = (picture[..., :3] * alpha + PLATE_GREY * (1 - alpha)).astype(np.uint8)
    if colours == "picture" or not solid.any():
        return over_plate, None
    return spread_colours(picture[..., :3], solid), (over_plate if colours == "plate" else None)


def vertex_colours(
    vertices: np.ndarray,
    grid: PixelGrid,
    subject: np.ndarray,
    plate: np.ndarray | None,
    plate_mm: float | None,
) -> np.ndarray:
    """The colour picture under each vertex (RGBA); on a plate, vertices standing above it take the
    subject's colours and the rest the plate's."""
    x0, y0, x1, y1 = _frame(grid)
    ch, cw = subject.shape[:2]
    px = np.clip(((vertices[:, 0] - x0) / (x1 - x0) * cw).astype(int), 0, cw - 1)
    py = np.clip(((y1 - vertices[:, 1]) / (y1 - y0) * ch).astype(int), 0, ch - 1)
    rgb = subject[py, px]
    if plate is not None and plate_mm is not None:
        low = vertices[:, 2] <= plate_mm + 1e-6
        rgb = np.where(low[:, None], plate[py, px], rgb)
    return np.column_stack([rgb, np.full(len(rgb), 255, np.uint8)])


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


def spread_colours(rgb: np.ndarray, solid: np.ndarray) -> np.ndarray:
    """``rgb`` with every pixel outside the subject taking its nearest subject pixel's colour, so
    walls and outline vertices, which sample at the outline, get the subject's colour and the
    picture's own background never shows on the model."""
    if solid.all() or not solid.any():
        return np.ascontiguousarray(rgb)
    # OpenCV labels each pixel with its nearest zero pixel: make the subject the zeros.
    _, labels = cv2.distanceTransformWithLabels(
        (~solid).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    palette = np.zeros((int(labels.max()) + 1, 3), np.uint8)
    palette[labels[solid]] = rgb[solid]
    return palette[labels]


def _merged(subject: np.ndarray, plate: np.ndarray | None, crop: Grid) -> np.ndarray:
    """The subject's colours over the subject (grown by a texel, so its walls take them), the
    plate's elsewhere."""
    if plate is None:
        return subject
    ch, cw = subject.shape[:2]
    inside = cv2.resize(crop.coverage, (cw, ch), interpolation=cv2.INTER_LINEAR) >= 0.5
    inside = cv2.dilate(inside.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return np.where(inside[..., None], subject, plate)


def _frame(grid: PixelGrid) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of a pixel grid in mm."""
    x0, y0 = grid.origin_mm
    h, w = grid.shape
    return x0, y0 - h * grid.pixel_mm, x0 + w * grid.pixel_mm, y0


def _window(image: np.ndarray, top: int, left: int, bottom: int, right: int) -> np.ndarray:
    """``image[top:bottom, left:right]`` with zeros wherever the window leaves the image."""
    h, w = image.shape[:2]
    out = np.zeros((bottom - top, right - left, *image.shape[2:]), dtype=image.dtype)
    t, lft, b, r = max(top, 0), max(left, 0), min(bottom, h), min(right, w)
    if b > t and r > lft:
        out[t - top : b - top, lft - left : r - left] = image[t:b, lft:r]
    return out
