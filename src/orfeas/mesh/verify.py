"""The checks every mesh must pass before it is written: closed, consistently wound, accepted by
manifold3d, positive volume. A mesh that fails is never exported."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import manifold3d
import numpy as np
import trimesh

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
    watertight = finite and bool(mesh.is_watertight)
    winding = finite and bool(mesh.is_winding_consistent)
    status = manifold_status(vertices, faces) if finite else "NonFiniteVertex"
    volume = float(mesh.volume) if watertight and winding else 0.0
    bodies = int(mesh.body_count) if finite else 0
    return Verification(
        watertight=watertight,
        winding_consistent=winding,
        manifold3d_accepted=status == "NoError",
        manifold3d_status=status,
        bodies=bodies,
        euler_number=int(mesh.euler_number) if finite else 0,
        volume_mm3=volume,
        finite=finite,
    )


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
