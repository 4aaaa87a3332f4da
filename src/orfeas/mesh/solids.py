"""manifold3d solids as trimesh meshes: the one conversion every builder that makes a solid by
constructive geometry (extrude, keychain, cutter, stamp, revolve, colour parts) hands back."""

from __future__ import annotations

import manifold3d
import numpy as np
import trimesh


def to_trimesh(solid: manifold3d.Manifold, *, double: bool = False) -> trimesh.Trimesh:
    """``solid`` as a trimesh: shared vertices, outward winding, nothing merged or reordered
    (``process=False``).

    Positions are manifold3d's single-precision ones by default, what STL holds: vertices apart
    in double precision but equal in single would fall onto one another in the file. ``double``
    keeps manifold3d's double-precision positions, for solids whose seams were cut in double
    precision (turned bodies, colour parts cut from one another) and must stay exact."""
    mesh = solid.to_mesh64() if double else solid.to_mesh()
    vertices = np.asarray(mesh.vert_properties, dtype=np.float64)[:, :3]
    return trimesh.Trimesh(vertices, np.asarray(mesh.tri_verts, dtype=np.int64), process=False)
