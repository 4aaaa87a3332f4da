"""``lithophane``: the whole picture; darker is thicker, from ``min_thickness_mm`` to
``max_thickness_mm``, with an optional frame. Printed in white and held to the light.

``shape``: ``flat`` (a panel, lying on its back), ``curved`` (an arc of ``arc_deg``) or
``cylinder`` (a closed lamp shade ``diameter_mm`` across, the picture once around it); the last
two are the flat panel bent (:mod:`.bent`)."""

from __future__ import annotations

import cv2
import numpy as np
import trimesh

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Built, Grid, finish, hard_error_mm, luminance
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.heightfield import OVERRUN, slab
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

#: A lithophane pixel need not be finer than this (a 0.4 mm nozzle cannot print finer).
LITHOPHANE_PIXEL_MM = 0.1
#: The mesh stays this close to the thickness image (mm).
MAX_ERROR_MM = 0.03
#: Smoothing of the picture before it becomes thickness (pixels of LITHOPHANE_PIXEL_MM).
NOZZLE_BLUR_PX = 1.0


def lithophane(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    thickness, crop = thickness_image(rgba, p)
    progress("mesh", 0.0)
    if p.shape != "flat":
        from orfeas.engines.relief.bent import bent  # here: it builds on this module

        return bent(thickness, rgba, crop, p, settings)
    return whole_picture(thickness, rgba, crop, p, settings, max_error_mm=MAX_ERROR_MM)


def thickness_image(rgba: np.ndarray, p: ReliefParameters) -> tuple[np.ndarray, Grid]:
    """The thickness (mm) per cell of the whole picture, framed, and the grid it is on. The cells
    are :data:`LITHOPHANE_PIXEL_MM` across at the size the picture is laid out at (a cylinder's
    picture goes once around it), at most 1024 along the longest side and no finer than the
    picture; a cylinder's frame runs along its top and bottom only (it has no sides)."""
    h, w = rgba.shape[:2]
    longest = p.size_mm
    if p.shape == "cylinder":
        around = np.pi * p.diameter_mm
        longest = max(around, around * h / w)
    side = int(max(32, min(1024, max(h, w), round(longest / LITHOPHANE_PIXEL_MM))))
    crop = Grid.whole(rgba.shape[:2], side)
    grey = luminance(rgba, crop, over_white=True)
    if p.invert:
        grey = 1.0 - grey
    # A nozzle lays lines wider than a lithophane pixel: detail finer than a pixel or two cannot
    # print, and smoothing it away lets the mesh follow what can.
    grey = cv2.GaussianBlur(grey, (0, 0), NOZZLE_BLUR_PX)
    thickness = p.max_thickness_mm - (p.max_thickness_mm - p.min_thickness_mm) * grey
    pixel_mm = longest / (max(thickness.shape) - 1)
    frame = round(p.frame_mm / pixel_mm)
    if frame > 0:
        ring = np.zeros_like(thickness, dtype=bool)
        ring[:frame], ring[-frame:] = True, True
        if p.shape != "cylinder":
            ring[:, :frame], ring[:, -frame:] = True, True
        thickness[ring] = p.max_thickness_mm
    return thickness, crop


def whole_picture(
    top: np.ndarray,
    rgba: np.ndarray,
    crop: Grid,
    p: ReliefParameters,
    settings: Settings,
    *,
    max_error_mm: float,
) -> Built:
    """The whole rectangle as a slab with ``top`` (mm per cell) over a flat back; the slab's
    vertices stand on the cell centres, so its grid starts half a cell outside them.

    A busy picture (a photo's grain) may need more triangles than the budget: then the engine
    means a smoother surface — ``top`` blurred a little more each time, noted as ``smoothed_px`` —
    and only as a last resort more triangles (up to :data:`~orfeas.mesh.heightfield.OVERRUN`
    times the budget), rather than a surface its mesh cannot follow."""
    pixel_mm = p.size_mm / (max(top.shape) - 1)
    (mesh,), top, notes = smoothed_slabs(top, pixel_mm, [(0, top.shape[1] - 1)], p, settings, max_error_mm)
    h, w = top.shape
    grid = PixelGrid((h, w), pixel_mm, (-pixel_mm / 2, (h - 0.5) * pixel_mm))
    intent = Intent(grid, np.ones((h, w), dtype=bool), top.astype(np.float64))
    return finish(mesh, intent, rgba, crop, p.size_mm, colours="picture", notes=notes)


def smoothed_slabs(
    top: np.ndarray,
    pixel_mm: float,
    columns: list[tuple[int, int]],
    p: ReliefParameters,
    settings: Settings,
    max_error_mm: float,
) -> tuple[list[trimesh.Trimesh], np.ndarray, dict[str, object]]:
    """A :func:`~orfeas.mesh.heightfield.slab` of ``top`` for each range of columns (first and
    last included), sharing the face budget, each placed at its columns; ``top`` smoothed as
    :func:`whole_picture` says where the budget cannot follow it (the ``top`` built and notes)."""
    limit = hard_error_mm(top, settings)
    notes: dict[str, object] = {}
    budget = p.target_faces
    for attempt in range(5):
        if attempt in (1, 2, 3):
            sigma = 0.5 * 2 ** (attempt - 1)
            top = cv2.GaussianBlur(top.astype(np.float32), (0, 0), sigma)
            notes["smoothed_px"] = sigma
        elif attempt == 4:
            budget = OVERRUN * p.target_faces
            notes["faces_over_target"] = True
        share = budget // len(columns)
        meshes = [
            slab(top[:, a : b + 1], pixel_mm, max_error_mm=max_error_mm, max_triangles=share)
            for a, b in columns
        ]
        if max(m.metadata["max_error_mm"] for m in meshes) <= limit:
            break
    for (a, _), mesh in zip(columns, meshes, strict=True):
        mesh.vertices[:, 0] += a * pixel_mm
    return meshes, top, notes
