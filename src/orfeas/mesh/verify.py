"""The checks every mesh must pass before it is written: closed, consistently wound, accepted by
manifold3d, positive volume. A mesh that fails is never exported."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import manifold3d
import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

from orfeas.errors import MeshInvalid


@dataclass(frozen=True)
class Verification:
    """What the checks found; ``ok`` only when every check passed."""

    watertight: bool
    winding_consistent: bool
    manifold3d_accepted: bool
    manifold3d_status: str
    bodies: int
    euler_number: int
    volume_mm3: float
    finite: bool

    @property
    def ok(self) -> bool:
        return (
            self.finite
            and self.watertight
            and self.winding_consistent
            and self.manifold3d_accepted
            and self.volume_mm3 > 0
        )

    def problems(self) -> list[str]:
        """Each failed check as a short phrase."""
        found = []
        if not self.finite:
            found.append("non-finite coordinates")
        if not self.watertight:
            found.append("not watertight")
        if not self.winding_consistent:
            found.append("inconsistent winding")
        if not self.manifold3d_accepted:
            found.append(f"rejected by manifold3d ({self.manifold3d_status})")
        if self.volume_mm3 <= 0:
            found.append("no positive volume")
        return found

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def check(mesh: trimesh.Trimesh) -> Verification:
    """Run every check on ``mesh`` and return the findings (never raises for a bad mesh)."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    finite = bool(len(faces)) and bool(np.all(np.isfinite(vertices)))
    if not finite:
        return Verification(False, False, False, "NonFiniteVertex", 0, 0, 0.0, False)
    watertight, winding, edges = edge_checks(faces)
    status = manifold_status(vertices, faces)
    used = np.unique(faces)
    volume = signed_volume(vertices, faces) if watertight and winding else 0.0
    return Verification(
        watertight=watertight,
        winding_consistent=winding,
        manifold3d_accepted=status == "NoError",
        manifold3d_status=status,
        bodies=count_bodies(faces, len(vertices)),
        euler_number=int(len(used) - edges + len(faces)),
        volume_mm3=volume,
        finite=True,
    )


def edge_checks(faces: np.ndarray) -> tuple[bool, bool, int]:
    """(watertight, winding consistent, number of edges) from the faces alone.

    Watertight: every edge is shared by exactly two faces. Consistent winding: those two faces
    traverse it in opposite directions, so no directed edge occurs twice.
    """
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = int(faces.max()) + 1
    undirected = np.sort(directed, axis=1)
    _, counts = np.unique(undirected[:, 0] * n + undirected[:, 1], return_counts=True)
    watertight = bool(np.all(counts == 2))
    directed_keys = np.sort(directed[:, 0] * n + directed[:, 1])
    winding = bool(np.all(directed_keys[1:] != directed_keys[:-1]))
    return watertight, winding, len(counts)


def count_bodies(faces: np.ndarray, vertex_count: int) -> int:
    """Connected pieces of the surface (vertices joined by edges)."""
    return len(np.unique(face_bodies(faces, vertex_count))) if len(faces) else 0


def face_bodies(faces: np.ndarray, vertex_count: int) -> np.ndarray:
    """The connected piece each face belongs to (faces joined through shared vertices)."""
    if len(faces) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(vertex_count,) * 2)
    _, labels = csgraph.connected_components(graph, directed=False)
    return labels[faces[:, 0]]


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume by the divergence theorem; positive when normals point outward."""
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def verify(mesh: trimesh.Trimesh) -> Verification:
    """Like :func:`check`, but raise :class:`MeshInvalid` when any check fails."""
    result = check(mesh)
    if not result.ok:
        raise MeshInvalid("The mesh failed verification: " + ", ".join(result.problems()) + ".")
    return result


def manifold_status(vertices: np.ndarray, faces: np.ndarray) -> str:
    """manifold3d's verdict on the mesh: ``"NoError"`` or the name of what is wrong."""
    try:
        solid = manifold3d.Manifold(
            manifold3d.Mesh(
                vert_properties=np.ascontiguousarray(vertices, dtype=np.float32),
                tri_verts=np.ascontiguousarray(faces, dtype=np.uint32),
            )
        )
    except (RuntimeError, ValueError) as exc:
        return f"Error: {exc}"
    return str(solid.status()).rsplit(".", 1)[-1]
