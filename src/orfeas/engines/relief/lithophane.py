"""``lithophane``: the whole picture; darker is thicker, from ``min_thickness_mm`` to
``max_thickness_mm``, with an optional frame. Printed in white and held to the light."""

from __future__ import annotations

import numpy as np
import trimesh

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Grid, finish, luminance
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.heightfield import slab

#: A lithophane pixel need not be finer than this (a 0.4 mm nozzle cannot print finer).
LITHOPHANE_PIXEL_MM = 0.1


def lithophane(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    h, w = rgba.shape[:2]
    side = int(max(32, min(1024, max(h, w), round(p.size_mm / LITHOPHANE_PIXEL_MM))))
    crop = Grid.whole(rgba.shape[:2], side)
    grey = luminance(rgba, crop, over_white=True)
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
    return finish(mesh, rgba, crop, p.size_mm, rect=True)
