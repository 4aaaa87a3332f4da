"""``relief``: a bas-relief plaque — the subject raised ``depth_mm`` with rounded shoulders, on a
base plate of ``base_mm`` (0: no plate, the subject alone).

On a plate, the subject's outline is a crease held in the triangulation: the plate around it is
exactly flat (it has no vertex of its own inside), and nothing ramps from the subject to the plate.
"""

from __future__ import annotations

from dataclasses import replace

import manifold3d
import numpy as np
import trimesh

from orfeas.engines.base import ProgressCallback
from orfeas.engines.relief import colours
from orfeas.engines.relief.grid import (
    Built,
    Grid,
    finish,
    hard_error_mm,
    joined_subject,
    luminance_detail,
    subject_grid,
    subject_outline,
)
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.imaging.mask import ForegroundMask
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.heightfield import distance_inside, outline_solid
from orfeas.mesh.outline import contours_of, cross_section, rasterize, rounded_rectangle
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

#: The mesh stays this close to the relief (mm).
MAX_ERROR_MM = 0.03


def plaque(
    rgba: np.ndarray,
    found: ForegroundMask | None,
    p: ReliefParameters,
    progress: ProgressCallback,
    settings: Settings,
) -> Built:
    on_plate = p.base_mm > 0
    mask, notes = joined_subject(found, p.size_mm, not p.separate_parts and not on_plate)
    crop = subject_grid(mask, p.target_faces, margin=plate_margin(p) if on_plate else 0.0, plate=on_plate)
    grid = crop.pixel_grid(p.size_mm / max(crop.shape))
    # The relief rises from the outline it is built with (so on a plate its crease is exactly
    # where the plate ends); the silhouette is compared with the mask.
    subject = subject_outline(crop, grid, p.target_faces)
    inside = rasterize(subject, grid)
    raised = np.where(inside, raised_profile(inside, p, rgba, crop), 0.0)
    progress("mesh", 0.0)
    if not on_plate:
        front = raised + p.rim_mm
        mesh = outline_solid(
            subject,
            grid,
            front,
            front_edge=p.rim_mm,
            refine=inside,
            max_error_mm=MAX_ERROR_MM,
            max_faces=p.target_faces,
            hard_error_mm=hard_error_mm(front, settings),
        )
        intent = Intent(grid, crop.mask, np.where(inside, front, np.nan))
        colouring = _coloured(mesh, cross_section(subject), rgba, crop, grid, False, p)
        if colouring is None:
            return finish(mesh, intent, rgba, crop, p.size_mm, notes=notes)
        intent = replace(intent, height=colouring.lifted(intent.height, grid))
        notes.update(colouring.notes)
        return finish(colouring.union, intent, rgba, crop, p.size_mm, notes=notes, parts=colouring.parts)
    if notes["parts"] > 1:
        notes["joined_by"] = "the plate"
    plate = plate_outline(grid, p.corner_mm)
    top = p.base_mm + raised
    mesh = outline_solid(
        plate,
        grid,
        top,
        front_edge=p.base_mm,
        creases=subject,
        crease_z=p.base_mm,
        refine=inside,
        max_error_mm=MAX_ERROR_MM,
        max_faces=p.target_faces,
        hard_error_mm=hard_error_mm(top, settings),
    )
    on = rasterize(plate, grid)
    intent = Intent(grid, crop.mask & on, np.where(on, top, np.nan), plate_mm=p.base_mm)
    colouring = _coloured(mesh, cross_section(subject), rgba, crop, grid, True, p)
    if colouring is not None:
        intent = replace(intent, height=colouring.lifted(intent.height, grid))
        notes.update(colouring.notes)
        mesh = colouring.union
    parts = colouring.parts if colouring is not None else None
    return finish(mesh, intent, rgba, crop, p.size_mm, colours="plate", notes=notes, parts=parts)


def _coloured(
    mesh: trimesh.Trimesh,
    design: manifold3d.CrossSection,
    rgba: np.ndarray,
    crop: Grid,
    grid: PixelGrid,
    plate: bool,
    p: ReliefParameters,
) -> colours.Colouring | None:
    """The plaque cut into colour parts when ``p`` asks for colours (see :mod:`.colours`): the
    subject in its colours, a ``plate`` in its own."""
    if not colours.wanted(p):
        return None
    count = colours.design_colours(p, plate)
    palette, labels = colours.picture_palette(rgba, crop, grid, crop.mask, count, p)
    return colours.coloured(colours.solid_of(mesh), design, palette, labels, p, plate=plate)


def plate_margin(p: ReliefParameters) -> float:
    """The plate's margin as a share of the subject's longest side, so that the whole plate, margin
    included, is ``size_mm`` long."""
    return p.margin_mm / max(p.size_mm - 2 * p.margin_mm, 1.0)


def plate_outline(grid: PixelGrid, corner_mm: float) -> list[np.ndarray]:
    """The plate: the grid's whole frame, its corners rounded."""
    h, w = grid.shape
    x0, y0 = grid.origin_mm
    low = np.array([x0, y0 - h * grid.pixel_mm])
    high = np.array([x0 + w * grid.pixel_mm, y0])
    return contours_of(rounded_rectangle(low, high, corner_mm))


def raised_profile(mask: np.ndarray, p: ReliefParameters, rgba: np.ndarray, crop: Grid) -> np.ndarray:
    """A plateau ``depth_mm`` high with rounded shoulders, plus surface detail."""
    shoulder = max(2.0, 0.02 * max(mask.shape))
    inside = np.clip(distance_inside(mask) / shoulder, 0.0, 1.0)
    profile = np.sqrt(inside) * p.depth_mm
    return np.maximum(profile + luminance_detail(rgba, crop, p.detail_mm, fade=inside), 0.0)
