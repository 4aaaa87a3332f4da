"""``relief``: a bas-relief plaque — the subject raised ``depth_mm`` from a flat back, on a base
plate of ``base_mm`` (0: no plate, the subject alone)."""

from __future__ import annotations

import numpy as np
import trimesh

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief.grid import Grid, finish, luminance_detail, subject_grid
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.heightfield import corner_heights, distance_inside, masked_solid, slab


def plaque(
    rgba: np.ndarray, found: ForegroundMask | None, p: ReliefParameters, progress: ProgressCallback
) -> trimesh.Trimesh:
    if p.base_mm <= 0:
        crop = subject_grid(found, p.target_faces)
        pixel_mm = p.size_mm / max(crop.mask.shape)
        raised = raised_profile(crop.mask, p, rgba, crop)
        progress("mesh", 0.0)
        front = corner_heights(raised, crop.mask) + p.rim_mm
        mesh = masked_solid(crop.mask, front, np.zeros_like(front), pixel_mm)
        return finish(mesh, rgba, crop, p.size_mm)
    # On a plate: the whole (cropped) picture is the plate, the subject stands on it.
    crop = subject_grid(found, p.target_faces, margin=0.04, plate=True)
    pixel_mm = p.size_mm / (max(crop.mask.shape) - 1)
    raised = np.where(crop.mask, raised_profile(crop.mask, p, rgba, crop), 0.0)
    top = p.base_mm + raised
    progress("mesh", 0.0)
    mesh = slab(top, pixel_mm, max_error_mm=0.02, max_triangles=p.target_faces)
    return finish(mesh, rgba, crop, p.size_mm, rect=True)


def raised_profile(mask: np.ndarray, p: ReliefParameters, rgba: np.ndarray, crop: Grid) -> np.ndarray:
    """A plateau ``depth_mm`` high with rounded shoulders, plus surface detail."""
    shoulder = max(2.0, 0.02 * max(mask.shape))
    inside = np.clip(distance_inside(mask) / shoulder, 0.0, 1.0)
    profile = np.sqrt(inside) * p.depth_mm
    return np.maximum(profile + luminance_detail(rgba, crop, p.detail_mm, fade=inside), 0.0)
