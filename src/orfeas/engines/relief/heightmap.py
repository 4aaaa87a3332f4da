"""``heightmap``: the picture already is a height or depth image (brighter is higher).

With a meaningful alpha channel, a ``mask`` other than ``auto`` or a painted mask edit only the
subject is built; otherwise the whole rectangle.
"""

from __future__ import annotations

import numpy as np

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import (
    Built,
    Grid,
    finish,
    hard_error_mm,
    luminance,
    subject_grid,
    subject_outline,
)
from orfeas.engines.relief.lithophane import whole_picture
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.heightfield import outline_solid
from orfeas.mesh.outline import rasterize
from orfeas.settings import Settings

#: No point of the part is thinner than this (mm).
FLOOR_MM = 0.4
#: The mesh stays this close to the height image (mm).
MAX_ERROR_MM = 0.03


def heightmap(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    if found is not None and found.method != "none":
        crop = subject_grid(found.mask, p.target_faces)
        grid = crop.pixel_grid(p.size_mm / max(crop.shape))
        level = luminance(rgba, crop, over_white=False)
        level = 1.0 - level if p.invert else level
        cells = np.maximum(p.base_mm + p.depth_mm * level, FLOOR_MM)
        progress("mesh", 0.0)
        outline = subject_outline(crop, grid, p.target_faces)
        inside = rasterize(outline, grid)
        mesh = outline_solid(
            outline,
            grid,
            cells,
            refine=inside,
            max_error_mm=MAX_ERROR_MM,
            max_faces=p.target_faces,
            hard_error_mm=hard_error_mm(cells, settings),
        )
        intent = Intent(grid, crop.mask, np.where(inside, cells, np.nan))
        return finish(mesh, intent, rgba, crop, p.size_mm)
    side = int(max(32, min(1024, max(rgba.shape[:2]))))
    crop = Grid.whole(rgba.shape[:2], side)
    level = luminance(rgba, crop, over_white=True)
    level = 1.0 - level if p.invert else level
    top = np.maximum(p.base_mm + p.depth_mm * level, FLOOR_MM)
    progress("mesh", 0.0)
    return whole_picture(top, rgba, crop, p, settings, max_error_mm=MAX_ERROR_MM)
