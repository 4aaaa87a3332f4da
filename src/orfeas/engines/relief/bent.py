"""Curved and cylinder lithophanes: the flat panel (:mod:`.lithophane`) bent around an upright axis.

The panel's back becomes the outside, a smooth cylinder of radius ``R``; the relief faces in, so
the picture is seen from outside with the light behind it, read left to right. A ``curved``
panel is an arc of ``arc_deg`` (``R`` = its width over the angle), standing on its lower edge; a
``cylinder`` is the picture once around a shade ``diameter_mm`` across, closed: its two halves are
bent apart and joined by manifold3d where they meet, the seams lying exactly in the plane x = 0.
An optional ring (``ring_mm``) inside the bottom stiffens it.

The panel's edges are first split to at most :func:`segment_mm` so the bent surface stays within
:data:`SAG_MM` of the true cylinder; the relief is moved in by that much besides, so the
thickness is nowhere under ``min_thickness_mm``. What was meant is checked from the front: the
outline of the bent shape and its smooth outside (the relief's own fidelity is the flat panel's).
"""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh

from orfeas.engines.relief.grid import Built, Grid, colour_pictures, vertex_colours
from orfeas.engines.relief.lithophane import MAX_ERROR_MM, smoothed_slabs
from orfeas.engines.relief.parameters import ReliefParameters
from orfeas.errors import InputRejected
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

#: The bent surface stays this close to the true cylinder (mm): as close as the flat panel
#: follows its picture (MAX_ERROR_MM).
SAG_MM = 0.03
#: The thinnest part of a bent panel's curve, inside (mm): the radius must leave this much.
MIN_INNER_RADIUS_MM = 2.0
#: How far the bottom ring reaches in past the thickest relief (mm), and its segments.
RING_WIDTH_MM = 3.0
RING_SEGMENTS = 360
#: Taller than this is noted: most printers build no higher (mm).
TALL_MM = 250.0
#: Pixels across the front view the bent shape is checked on.
CHECK_PIXELS = 480


def bent(
    thickness: np.ndarray, rgba: np.ndarray, crop: Grid, p: ReliefParameters, settings: Settings
) -> Built:
    h, w = thickness.shape
    closed = p.shape == "cylinder"
    if closed:
        radius = p.diameter_mm / 2
        pixel_mm = 2 * np.pi * radius / w  # the picture's columns go once around
        top = np.hstack([thickness, thickness[:, :1]])  # the first column again, where it closes
        columns = [(0, w // 2), (w // 2, w)]
        sweep = 2 * np.pi
    else:
        pixel_mm = p.size_mm / (max(h, w) - 1)
        top = thickness
        columns = [(0, w - 1)]
        sweep = np.radians(p.arc_deg)
        radius = (w - 1) * pixel_mm / sweep
    if radius - p.max_thickness_mm < MIN_INNER_RADIUS_MM:
        field = "diameter_mm" if closed else "arc_deg"
        raise InputRejected(
            f"The lithophane bends too tightly for its {p.max_thickness_mm:g} mm thickness "
            f"(a {radius:.1f} mm radius): make {'the diameter larger' if closed else 'the arc smaller'}.",
            code="invalid_parameter",
            field=field,
        )
    meshes, top, notes = smoothed_slabs(top, pixel_mm, columns, p, settings, MAX_ERROR_MM)
    hh, ww = top.shape
    picture_grid = PixelGrid((hh, ww), pixel_mm, (-pixel_mm / 2, (hh - 0.5) * pixel_mm))
    colours, _ = colour_pictures(rgba, crop, "picture")
    if closed:
        colours = np.hstack([colours, colours[:, :1]])
    width = (ww - 1) * pixel_mm
    start = 0.0 if closed else -sweep / 2
    seams = [a * pixel_mm for a, _ in columns] + [width] if closed else []
    segment = segment_mm(radius)
    pieces = []
    for mesh in meshes:
        painted = vertex_colours(mesh.vertices, picture_grid, colours, None, None)
        pieces.append(_bent(mesh, painted, radius, start, segment, seams))
    solid = manifold3d.Manifold.batch_boolean(pieces, manifold3d.OpType.Add) if len(pieces) > 1 else pieces[0]
    height = (hh - 1) * pixel_mm
    if closed and p.ring_mm > 0:
        outer = radius - p.min_thickness_mm / 2  # inside the wall's own material: no touching surfaces
        inner = radius - p.max_thickness_mm - RING_WIDTH_MM
        hole = manifold3d.Manifold.cylinder(3 * p.ring_mm, inner, inner, RING_SEGMENTS)
        ring = manifold3d.Manifold.cylinder(p.ring_mm, outer, outer, RING_SEGMENTS) - hole.translate(
            (0.0, 0.0, -p.ring_mm)
        )
        solid = solid + ring
        notes["ring_mm"] = p.ring_mm
    if solid.status() != manifold3d.Error.NoError:
        raise RuntimeError(f"the bent lithophane did not close into one solid ({solid.status()})")
    mesh = _to_trimesh(solid)

    # Placed as the bed will have it (centred, on z = 0), so what was meant needs no moving: from
    # the front (−y) the smooth outside, sqrt(R² − x²) deep, over the bent panel's outline.
    low, high = mesh.bounds
    shift = -np.array([(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2]])
    mesh.apply_translation(shift)
    half = radius * (np.sin(sweep / 2) if sweep < np.pi else 1.0)
    check = PixelGrid.around(np.array([-half, 0.0]), np.array([half, height]), 2 * half / CHECK_PIXELS)
    x, _ = check.centres()
    inside = np.abs(x) <= half
    front = np.sqrt(np.maximum(radius**2 - x**2, 0.0)) - shift[1]
    z = check.centres()[1]
    inside &= (z >= 0) & (z <= height)
    intent = Intent(check, inside, np.where(inside, front, np.nan), view="front")
    notes.update(
        {
            "shape": p.shape,
            "radius_mm": round(radius, 2),
            "arc_deg": round(float(np.degrees(sweep)), 1),
            "height_mm": round(height, 2),
            "segment_mm": round(segment, 3),
            "min_thickness_mm": p.min_thickness_mm,
        }
    )
    if height > TALL_MM:
        notes.setdefault("warnings", []).append(  # type: ignore[union-attr]
            f"The lithophane is {height:.0f} mm tall (the picture goes once around): taller than most "
            "printers build; a wider picture or a smaller diameter makes it lower."
        )
    return Built(mesh, intent, notes)


def segment_mm(radius: float) -> float:
    """The longest edge whose chord on a circle of ``radius`` sags no more than :data:`SAG_MM`."""
    return float(np.sqrt(8 * radius * SAG_MM))


def _bent(
    panel: trimesh.Trimesh,
    colours: np.ndarray,
    radius: float,
    start: float,
    segment: float,
    seams: list[float],
) -> manifold3d.Manifold:
    """``panel`` (x along the picture, y up it, z its thickness over the back at z = 0) bent: x
    becomes the angle ``start + x / radius`` (counter-clockwise seen from above: the picture reads left
    to right from outside), z the depth in from the outside at ``radius``, y the height."""
    props = np.column_stack([panel.vertices, colours[:, :3] / 255.0])
    flat = manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(props, dtype=np.float32),
            tri_verts=np.ascontiguousarray(panel.faces, dtype=np.uint32),
        )
    ).refine_to_length(segment)
    mesh = flat.to_mesh()
    values = np.asarray(mesh.vert_properties, dtype=np.float64)
    x, y, z = values[:, 0], values[:, 1], values[:, 2]
    angle = start + x / radius
    # Chords of the outside sag in by up to SAG_MM: the relief goes in as much, so no wall is thinner.
    depth = radius - z - np.where(z > 1e-6, SAG_MM, 0.0)
    out = np.column_stack([depth * np.sin(angle), -depth * np.cos(angle), y, values[:, 3:]])
    for seam in seams:  # exactly in the plane x = 0, where the two halves of a cylinder meet
        at = np.abs(x - seam) < 1e-4
        out[at, 0] = 0.0
        out[at, 1] = -depth[at] * np.sign(np.cos(start + seam / radius))
    # Bending turns the panel inside out (its thickness now points to the axis): faces reversed.
    return manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(out, dtype=np.float32),
            tri_verts=np.ascontiguousarray(np.asarray(mesh.tri_verts)[:, ::-1], dtype=np.uint32),
        )
    )


def _to_trimesh(solid: manifold3d.Manifold) -> trimesh.Trimesh:
    """The solid with the colours it carried as vertex colours."""
    mesh = solid.to_mesh()
    values = np.asarray(mesh.vert_properties, dtype=np.float64)
    faces = np.asarray(mesh.tri_verts, dtype=np.int64)
    # Where colours differ at one place manifold3d keeps two vertices there: one, for the mesh.
    merged = np.arange(len(values))
    merged[np.asarray(mesh.merge_from_vert, dtype=np.int64)] = np.asarray(mesh.merge_to_vert, dtype=np.int64)
    used, faces = np.unique(merged[faces], return_inverse=True)
    values = values[used]
    out = trimesh.Trimesh(values[:, :3], faces.reshape(-1, 3), process=False)
    rgb = np.clip(np.round(values[:, 3:6] * 255), 0, 255).astype(np.uint8)
    out.visual.vertex_colors = np.column_stack([rgb, np.full(len(rgb), 255, np.uint8)])
    return out
