"""``heightmap``: the picture already is a height or depth image (brighter is higher).

With a meaningful alpha channel, a ``mask`` other than ``auto`` or a painted mask edit only the
subject is built; otherwise the whole rectangle.
"""

from __future__ import annotations

import numpy as np
import trimesh

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Grid, finish, luminance, subject_grid
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.heightfield import corner_heights, masked_solid, slab

#: No point of the part is thinner than this (mm).
FLOOR_MM = 0.4


def heightmap(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    if found is not None and found.method != "none":
        crop = subject_grid(found, p.target_faces)
        level = luminance(rgba, crop, over_white=False)
        level = 1.0 - level if p.invert else level
        pixel_mm = p.size_mm / max(crop.mask.shape)
        cells = np.maximum(p.base_mm + p.depth_mm * level, FLOOR_MM)
        progress("mesh", 0.0)
        front = corner_heights(cells, crop.mask, outline="inside")
        # Outline corners average with outside cells: lift them back to the floor.
        front = np.maximum(front, FLOOR_MM)
        mesh = masked_solid(crop.mask, front, np.zeros_like(front), pixel_mm)
        return finish(mesh, rgba, crop, p.size_mm)
    side = int(max(32, min(1024, max(rgba.shape[:2]))))
    crop = Grid.whole(rgba.shape[:2], side)
    level = luminance(rgba, crop, over_white=True)
    level = 1.0 - level if p.invert else level
    top = np.maximum(p.base_mm + p.depth_mm * level, FLOOR_MM)
    pixel_mm = p.size_mm / (max(top.shape) - 1)
    progress("mesh", 0.0)
    mesh = slab(top, pixel_mm, max_error_mm=0.02, max_triangles=p.target_faces)
    return finish(mesh, rgba, crop, p.size_mm, rect=True)
