"""Non-destructive clean-up, scaling and simplification of closed meshes.

Nothing here deletes volume: destructive "repair" (hole filling by guesswork, deleting faces
until a checker is happy) is kept out of the default path; a mesh that stays broken fails
verification instead.
"""

from __future__ import annotations

import fast_simplification
import numpy as np
import trimesh
from scipy.spatial import cKDTree


def clean_mesh(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Merge coincident vertices, drop degenerate and unused geometry; keeps vertex colours."""
    colours = _vertex_colours(mesh)
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if not np.all(np.isfinite(vertices)):
        raise ValueError("mesh has non-finite coordinates")
    # Merge exactly coincident vertices (a mesh built in parts may repeat them): sort by
    # position, and every vertex equal to its predecessor takes the predecessor's index.
    order = np.lexsort(vertices.T[::-1])
    ordered = vertices[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    if not new.all():
        group = np.cumsum(new) - 1
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = order[new][group]
        faces = remap[faces]
    faces = _drop_degenerate(faces)
    faces = remove_duplicate_faces(faces)
    return _compact(vertices, faces, colours)


def remove_duplicate_faces(faces: np.ndarray) -> np.ndarray:
    """Drop faces over the same three vertices.

    Two faces with opposite winding over the same vertices are a zero-volume fin that a
    simplifier can leave behind (its edges are then shared by four faces): both go. Repeats with
    the same winding keep one copy.
    """
    if len(faces) == 0:
        return faces
    key = _face_keys(faces)
    sort = np.argsort(key, kind="stable")
    sorted_key = key[sort]
    repeated = np.zeros(len(faces), dtype=bool)
    repeated[1:] = sorted_key[1:] == sorted_key[:-1]
    if not repeated.any():
        return faces
    parity = _winding_parity(faces)
    keep = np.ones(len(faces), dtype=bool)
    starts = np.nonzero(~repeated)[0]
    ends = np.append(starts[1:], len(faces))
    groups = (ends - starts) > 1
    for start, end in zip(starts[groups], ends[groups], strict=True):
        members = sort[start:end]
        signs = parity[members]
        plus, minus = members[signs], members[~signs]
        pairs = min(len(plus), len(minus))
        keep[plus[:pairs]] = False
        keep[minus[:pairs]] = False
        rest = np.concatenate([plus[pairs:], minus[pairs:]])
        keep[rest[1:]] = False
    return faces[keep]


def scale_to_size(mesh: trimesh.Trimesh, size_mm: float) -> trimesh.Trimesh:
    """Scale uniformly so the longest bounding-box side is ``size_mm``; rest on z = 0, centred."""
    extent = float(np.max(mesh.extents)) if len(mesh.vertices) else 0.0
    if extent <= 0:
        raise ValueError("mesh has no extent")
    out = mesh.copy()
    out.apply_scale(size_mm / extent)
    return place_on_bed(out)


def place_on_bed(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Translate so the model is centred in x and y and its lowest point is at z = 0."""
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    return mesh


def simplify_to(mesh: trimesh.Trimesh, target_faces: int) -> trimesh.Trimesh:
    """Quadric simplification to about ``target_faces``; colours carried over by nearest vertex."""
    if len(mesh.faces) <= target_faces:
        return mesh
    reduction = 1.0 - target_faces / len(mesh.faces)
    points, faces = fast_simplification.simplify(
        np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int32), reduction
    )
    points = np.asarray(points, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    colours = _vertex_colours(mesh)
    if colours is not None:
        _, nearest = cKDTree(mesh.vertices).query(points)
        colours = colours[nearest]
    return _compact(points, remove_duplicate_faces(_drop_degenerate(faces)), colours)


def _compact(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None) -> trimesh.Trimesh:
    """A mesh holding only the vertices its faces use."""
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    out = trimesh.Trimesh(vertices[used], remap[faces], process=False)
    if colours is not None:
        out.visual.vertex_colors = colours[used]
    return out


def _face_keys(faces: np.ndarray) -> np.ndarray:
    """One integer per face, equal for faces over the same three vertices in any order."""
    ordered = np.sort(faces, axis=1).astype(np.int64)
    if faces.max() < 2**21:  # three 21-bit indices pack into one int64
        return (ordered[:, 0] << 42) | (ordered[:, 1] << 21) | ordered[:, 2]
    return np.unique(ordered, axis=0, return_inverse=True)[1].ravel()


def _drop_degenerate(faces: np.ndarray) -> np.ndarray:
    """Faces that use a vertex twice have no area: drop them."""
    return faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]


def _vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    visual = mesh.visual
    if getattr(visual, "kind", None) == "vertex":
        return np.asarray(visual.vertex_colors, dtype=np.uint8)
    return None


def _winding_parity(faces: np.ndarray) -> np.ndarray:
    """True where a face's vertex order is an even permutation of its sorted order."""
    order = np.argsort(faces, axis=1)
    # An arrangement of three is even exactly when it is a rotation of (0, 1, 2).
    return ((order[:, 1] - order[:, 0]) % 3) == 1
