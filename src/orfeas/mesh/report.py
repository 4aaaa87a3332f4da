"""The printability report: what a maker needs to know before slicing, as plain JSON.

Quality score (in [0, 1]); 0 for any mesh that fails verification, otherwise

    (0.40 · wall + 0.20 · overhang + 0.40 · fidelity) · pieces

* wall     = min(1, thinnest_wall_mm / 0.8)        — a 0.4 mm nozzle lays two lines in 0.8 mm
* overhang = 1 − overhang_share                     — share of area needing support (> 45°)
* fidelity = clip((silhouette_iou − 0.5) / 0.5, 0, 1) · clip(1 − 4 · stray_share, 0, 1)
                                                    — does it look like the picture (the
                                                      ``fidelity`` block, :mod:`orfeas.mesh.fidelity`);
                                                      1 when there is nothing to compare with
                                                      (a mesh brought from elsewhere)
* pieces   = 1 for one body, 0.5 for more           — a model in loose parts (listed under
                                                      ``loose_parts``) falls apart when printed
"""

from __future__ import annotations

from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from orfeas.mesh.fidelity import Fidelity
from orfeas.mesh.verify import Verification, check, face_bodies

#: Density of PLA in g/cm³, for the filament estimate.
PLA_DENSITY = 1.24
#: Faces steeper than this many degrees past vertical, facing down, need support.
OVERHANG_DEGREES = 45.0
#: Surface points sampled for the wall-thickness estimate.
WALL_SAMPLES = 4000

QUALITY_WEIGHTS = {"wall": 0.40, "overhang": 0.20, "fidelity": 0.40}
#: The score of a model in several loose pieces is multiplied by this.
LOOSE_PIECES_FACTOR = 0.5


def printability_report(
    mesh: trimesh.Trimesh, verification: Verification | None = None, fidelity: Fidelity | None = None
) -> dict[str, Any]:
    """Measure ``mesh`` (millimetres) and return the report as a JSON-able dict; ``fidelity``
    (how the mesh compares with what its engine meant to build) adds the ``fidelity`` block."""
    verification = verification or check(mesh)
    low, high = mesh.bounds if len(mesh.vertices) else np.zeros((2, 3))
    volume_cm3 = verification.volume_mm3 / 1000.0
    thinnest = thinnest_wall_mm(mesh) if verification.ok else 0.0
    overhang = overhang_share(mesh) if verification.ok else 1.0
    parts = {
        "wall": min(1.0, thinnest / 0.8),
        "overhang": 1.0 - overhang,
        "fidelity": fidelity.score() if fidelity is not None else 1.0,
    }
    pieces = 1.0 if verification.bodies <= 1 else LOOSE_PIECES_FACTOR
    score = pieces * sum(QUALITY_WEIGHTS[k] * v for k, v in parts.items()) if verification.ok else 0.0
    report = {
        "printable": verification.ok,
        "problems": verification.problems(),
        "watertight": verification.watertight,
        "winding_consistent": verification.winding_consistent,
        "manifold3d_accepted": verification.manifold3d_accepted,
        "bodies": verification.bodies,
        "euler_number": verification.euler_number,
        "volume_cm3": round(volume_cm3, 4),
        "area_cm2": round(float(mesh.area) / 100.0, 4),
        "bbox_mm": [round(float(x), 3) for x in (high - low)],
        "faces": len(mesh.faces),
        "vertices": len(mesh.vertices),
        "thinnest_wall_mm": round(thinnest, 3),
        "overhang_share": round(overhang, 4),
        "filament_g": round(volume_cm3 * PLA_DENSITY, 2),
        "filament_assumption": f"solid PLA at {PLA_DENSITY} g/cm³ (an upper bound; infill prints lighter)",
        "loose_parts": loose_parts(mesh) if verification.bodies > 1 else [],
        "quality_score": round(float(score), 4),
        "quality_parts": {**{k: round(float(v), 4) for k, v in parts.items()}, "pieces": pieces},
    }
    if fidelity is not None:
        report["fidelity"] = fidelity.as_dict()
    return report


def loose_parts(mesh: trimesh.Trimesh) -> list[dict[str, Any]]:
    """Each separate body of the mesh, largest first: its volume, centre and size."""
    faces = np.asarray(mesh.faces)
    vertices = np.asarray(mesh.vertices)
    labels = face_bodies(faces, len(vertices))
    out = []
    for body in np.unique(labels):
        own = faces[labels == body]
        points = vertices[np.unique(own)]
        a, b, c = vertices[own[:, 0]], vertices[own[:, 1]], vertices[own[:, 2]]
        volume = abs(float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0))
        low, high = points.min(axis=0), points.max(axis=0)
        out.append(
            {
                "volume_cm3": round(volume / 1000.0, 4),
                "center_mm": [round(float(x), 2) for x in (low + high) / 2],
                "size_mm": [round(float(x), 2) for x in high - low],
            }
        )
    return sorted(out, key=lambda part: -part["volume_cm3"])


def overhang_share(mesh: trimesh.Trimesh) -> float:
    """Share of the surface area facing down steeper than 45°, not counting faces on the bed."""
    normals = mesh.face_normals
    areas = mesh.area_faces
    total = float(areas.sum())
    if total <= 0:
        return 0.0
    down = normals[:, 2] < -np.cos(np.radians(90.0 - OVERHANG_DEGREES))
    z_low = mesh.bounds[0, 2]
    on_bed = mesh.triangles[:, :, 2].max(axis=1) <= z_low + 0.05
    return float(areas[down & ~on_bed].sum() / total)


#: The six directions a surface point can mostly face; points are grouped by them so that each
#: looks for the other side of its wall only among points facing the other way, however far.
_AXES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
#: Opposite-facing neighbours each point weighs.
_WALL_NEIGHBOURS = 8


def thinnest_wall_mm(mesh: trimesh.Trimesh, samples: int = WALL_SAMPLES) -> float:
    """An estimate of the thinnest wall: distance from surface points to the nearest surface
    facing the other way (normals more than 120° apart) behind them, 2nd percentile over random
    samples. Cheap and robust; a slicer's own check is the final word.

    Random samples, not evenly spread ones: even sampling keeps points a spacing apart *across* a
    wall too, so a wall thinner than that (a 0.6 mm plate 200 mm wide) would read as the spacing.
    The other side is looked for among the points facing away (grouped by the axis they face), so
    a thick wall is measured too instead of being lost among same-side neighbours."""
    if len(mesh.faces) == 0:
        return 0.0
    rng = np.random.default_rng(0)
    points, face_index = trimesh.sample.sample_surface(mesh, samples, seed=rng)
    if len(points) < 8:
        return 0.0
    normals = mesh.face_normals[face_index]
    facing_axis = np.argmax(normals @ _AXES.T, axis=1)
    nearest = np.full(len(points), np.inf)
    for axis, direction in enumerate(_AXES):
        members = np.flatnonzero(facing_axis == axis)
        askers = np.flatnonzero(normals @ direction < -0.3)  # points that may face these
        if len(members) == 0 or len(askers) == 0:
            continue
        k = min(_WALL_NEIGHBOURS, len(members))
        distances, found = cKDTree(points[members]).query(points[askers], k=k)
        distances, other = distances.reshape(len(askers), k), members[found.reshape(len(askers), k)]
        mine = normals[askers]
        facing = np.einsum("ij,ikj->ik", mine, normals[other]) < -0.5
        # Only opposite points behind the surface (inside the solid), not across the air in front.
        behind = np.einsum("ij,ikj->ik", mine, points[other] - points[askers][:, None, :]) < 0
        candidate = np.where(facing & behind, distances, np.inf).min(axis=1)
        nearest[askers] = np.minimum(nearest[askers], candidate)
    nearest = nearest[np.isfinite(nearest)]
    if len(nearest) == 0:
        return float(np.min(mesh.extents))
    return float(np.percentile(nearest, 2))
