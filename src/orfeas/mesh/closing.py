"""Closing the surfaces neural networks produce, and saying exactly what that took.

A network like Hunyuan3D-2 predicts a field on a grid and extracts its level set; where the shape
touches the grid's box the surface is open, and nothing promises one body or outward normals.

* :func:`surface_from_field` runs marching cubes on the field padded with one layer of "outside",
  so the surface is closed by construction (a shape cut by the box gets a flat cap there, within
  one grid cell outside the box).
* :func:`close_mesh` takes any triangle mesh and caps its *planar* holes (constrained
  triangulation by manifold3d), makes the winding consistent and outward per body, and optionally
  drops specks below a share of the volume. Everything it did is in the returned report. A hole
  it cannot cap honestly (not planar) is left open and counted, and verification then refuses the
  mesh — no geometry is guessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import manifold3d
import numpy as np
import trimesh

from orfeas.mesh.repair import clean_mesh
from orfeas.mesh.verify import edge_checks, face_bodies, signed_volume

#: A hole is capped when every point lies this close to its best-fit plane (share of its size).
PLANAR_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ClosingReport:
    """What :func:`close_mesh` changed."""

    holes_found: int
    holes_capped: int
    faces_added: int
    non_manifold_edges: int
    bodies_flipped: int
    bodies_removed: int
    volume_removed_share: float
    bodies: int
    closed: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ClosedMesh:
    mesh: trimesh.Trimesh
    report: ClosingReport


def surface_from_field(
    field: np.ndarray, level: float, bounds: tuple[float, float, float, float, float, float]
) -> trimesh.Trimesh | None:
    """The closed surface where ``field`` crosses ``level`` (inside: values above it).

    ``field`` holds samples on a regular grid spanning ``bounds`` (min x, y, z, max x, y, z)
    corner to corner. Returns ``None`` when the field never crosses the level.
    """
    from skimage import measure  # an extra's dependency: only neural engines come here

    values = np.asarray(field, dtype=np.float32)
    if not (values.max() > level > values.min()):
        return None
    outside = np.float32(min(float(values.min()), level) - 1.0)
    padded = np.pad(values, 1, mode="constant", constant_values=outside)
    low, high = np.asarray(bounds[:3], dtype=np.float64), np.asarray(bounds[3:], dtype=np.float64)
    spacing = (high - low) / (np.asarray(values.shape) - 1)
    vertices, faces, _, _ = measure.marching_cubes(padded, level, spacing=tuple(spacing), method="lewiner")
    vertices = vertices - spacing + low  # undo the padding layer, then move into the box
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    if signed_volume(mesh.vertices, mesh.faces) < 0:
        mesh.faces = mesh.faces[:, ::-1]
    return mesh


def close_mesh(mesh: trimesh.Trimesh, *, min_body_share: float = 0.0) -> ClosedMesh:
    """Cap planar holes, orient every body outward and drop bodies under ``min_body_share`` of the
    total volume; the report says what changed and whether the result is closed."""
    mesh = clean_mesh(mesh)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)

    loops, non_manifold = _boundary_loops(faces)
    caps = [cap for cap in (_cap(vertices, loop) for loop in loops) if cap is not None]
    if caps:
        faces = np.concatenate([faces, *caps])
    faces_added = int(sum(len(c) for c in caps))

    faces, flipped = _orient_bodies(vertices, faces)
    faces, removed, removed_share = _drop_small_bodies(vertices, faces, min_body_share)

    out = trimesh.Trimesh(vertices, faces, process=False)
    out = clean_mesh(out)
    labels = face_bodies(np.asarray(out.faces), len(out.vertices))
    open_loops, still_non_manifold = _boundary_loops(np.asarray(out.faces))
    report = ClosingReport(
        holes_found=len(loops),
        holes_capped=len(caps),
        faces_added=faces_added,
        non_manifold_edges=non_manifold,
        bodies_flipped=flipped,
        bodies_removed=removed,
        volume_removed_share=round(removed_share, 6),
        bodies=len(np.unique(labels)) if len(labels) else 0,
        closed=not open_loops and still_non_manifold == 0 and len(out.faces) > 0,
    )
    return ClosedMesh(out, report)


# --- holes ----------------------------------------------------------------------------------------


def _boundary_loops(faces: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Closed chains of boundary edges (each as vertex indices in the faces' direction), and the
    number of edges shared by more than two faces. Chains through a vertex with several boundary
    edges are not followed (they are not simple holes) and stay open."""
    if len(faces) == 0:
        return [], 0
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    n = int(faces.max()) + 1
    _, inverse, counts = np.unique(
        undirected[:, 0] * n + undirected[:, 1], return_inverse=True, return_counts=True
    )
    non_manifold = int(np.sum(counts > 2))
    boundary = directed[counts[inverse] == 1]
    following: dict[int, int] = {}
    for a, b in boundary.tolist():
        following[a] = -1 if a in following else b  # two boundary edges leave a: not a simple hole
    loops, seen = [], set()
    for first, node in following.items():
        if first in seen or node == -1:
            continue
        loop, members = [first], {first}
        while node not in members and node not in seen and following.get(node, -1) != -1:
            loop.append(node)
            members.add(node)
            node = following[node]
        seen.update(members)
        if node == first and len(loop) >= 3:
            loops.append(np.asarray(loop, dtype=np.int64))
    return loops, non_manifold


def _cap(vertices: np.ndarray, loop: np.ndarray) -> np.ndarray | None:
    """Triangles closing a planar hole, wound against the loop so the edges pair up; else None."""
    points = vertices[loop]
    centre = points.mean(axis=0)
    _, singular, axes = np.linalg.svd(points - centre, full_matrices=False)
    size = float(np.ptp(points, axis=0).max())
    if size <= 0 or singular[-1] / np.sqrt(len(points)) > PLANAR_TOLERANCE * size:
        return None
    flat = (points - centre) @ axes[:2].T
    # The cap runs the hole's edges backwards: reverse the loop and make it counter-clockwise in 2D.
    order = loop[::-1]
    flat = flat[::-1]
    area = 0.5 * np.sum(flat[:, 0] * np.roll(flat[:, 1], -1) - np.roll(flat[:, 0], -1) * flat[:, 1])
    if area < 0:
        flat = flat * np.array([-1.0, 1.0])  # mirror the plane's axes, not the loop's order
    triangles = manifold3d.triangulate([np.ascontiguousarray(flat)])
    if len(triangles) != len(loop) - 2:
        return None
    return order[np.asarray(triangles, dtype=np.int64)]


# --- bodies ---------------------------------------------------------------------------------------


def _orient_bodies(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Consistent winding (trimesh's face-adjacency walk), then each body's volume made positive."""
    if len(faces) == 0:
        return faces, 0
    if not edge_checks(faces)[1]:
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        trimesh.repair.fix_winding(mesh)
        faces = np.asarray(mesh.faces, dtype=np.int64)
    faces = faces.copy()
    labels = face_bodies(faces, len(vertices))
    flipped = 0
    for body in np.unique(labels):
        members = labels == body
        if signed_volume(vertices, faces[members]) < 0:
            faces[members] = faces[members][:, ::-1]
            flipped += 1
    return faces, flipped


def _drop_small_bodies(
    vertices: np.ndarray, faces: np.ndarray, min_share: float
) -> tuple[np.ndarray, int, float]:
    """Remove bodies holding less than ``min_share`` of the total volume: (faces, removed, share)."""
    if min_share <= 0 or len(faces) == 0:
        return faces, 0, 0.0
    labels = face_bodies(faces, len(vertices))
    bodies = np.unique(labels)
    volumes = np.array([abs(signed_volume(vertices, faces[labels == b])) for b in bodies])
    total = float(volumes.sum())
    if total <= 0:
        return faces, 0, 0.0
    small = volumes < min_share * total
    if small.all():
        small[np.argmax(volumes)] = False  # never remove everything: keep the largest body
    keep = ~np.isin(labels, bodies[small])
    return faces[keep], int(small.sum()), float(volumes[small].sum() / total)
