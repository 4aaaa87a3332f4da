"""The mesh doctor: analyse and repair meshes from elsewhere (a download, a scan, another
generator) so that a slicer takes them.

Repair never removes volume silently: every change is listed, and a repair that would discard
more than ``max_volume_loss`` of the volume, or that cannot make the mesh pass verification,
fails with the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np
import trimesh
from scipy import sparse
from scipy.sparse import csgraph

from orfeas.errors import MeshInvalid
from orfeas.mesh.repair import clean_mesh, place_on_bed, remove_duplicate_faces, scale_to_size, simplify_to
from orfeas.mesh.report import printability_report
from orfeas.mesh.verify import check, edge_checks, signed_volume

#: Vertices closer than this share of the bounding-box diagonal are merged.
MERGE_TOLERANCE = 1e-6
#: Closed pieces smaller than this share of the total volume are floating debris.
DEBRIS_SHARE = 0.001


@dataclass
class RepairOptions:
    """What a repair may do besides making the mesh closed and manifold."""

    units_to_mm: float = 1.0
    size_mm: float | None = None
    target_faces: int | None = None
    lay_flat: bool = False
    max_volume_loss: float = 0.02


@dataclass
class RepairResult:
    mesh: trimesh.Trimesh
    changes: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def analyze(mesh: trimesh.Trimesh) -> dict[str, Any]:
    """The printability report of ``mesh`` as it is (millimetres assumed)."""
    return printability_report(mesh)


def repair(mesh: trimesh.Trimesh, options: RepairOptions | None = None) -> RepairResult:
    """Make ``mesh`` printable: merge, de-duplicate, orient, close, drop debris, union overlaps.

    Raises :class:`MeshInvalid` when it cannot, or when it would lose more volume than allowed.
    """
    options = options or RepairOptions()
    changes: list[str] = []
    work = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces), process=False)
    if options.units_to_mm != 1.0:
        work.apply_scale(options.units_to_mm)
        changes.append(f"scaled ×{options.units_to_mm:g} to millimetres")

    faces_before = len(work.faces)
    work = _merge_close_vertices(work)
    work = clean_mesh(work)
    work = _drop_zero_area(work)
    if len(work.faces) != faces_before:
        changes.append(
            f"removed {faces_before - len(work.faces)} degenerate or duplicate faces "
            "and merged coincident vertices"
        )

    shells = _shells(work)
    closed: list[trimesh.Trimesh] = []
    open_area = 0.0
    for shell in shells:
        fixed, notes = _close_shell(shell)
        changes.extend(notes)
        if fixed is None:
            open_area += float(shell.area)
        else:
            closed.append(fixed)
    if not closed:
        raise MeshInvalid("The mesh has no piece that can be closed into a solid.")
    total = sum(abs(s.volume) for s in closed)
    keep = [s for s in closed if abs(s.volume) >= DEBRIS_SHARE * total]
    dropped = total - sum(abs(s.volume) for s in keep)
    if len(keep) < len(closed):
        changes.append(
            f"dropped {len(closed) - len(keep)} floating fragments "
            f"({dropped / total * 100:.2f} % of the volume)"
        )
    if open_area > 0:
        changes.append(f"dropped open surface pieces that enclose nothing ({open_area:.1f} mm² of area)")
    if dropped / total > options.max_volume_loss:
        raise MeshInvalid(
            f"Repair would remove {dropped / total * 100:.1f} % of the volume "
            f"(more than the allowed {options.max_volume_loss * 100:.1f} %)."
        )

    work = _union(keep)
    if len(keep) > 1:
        changes.append(f"joined {len(keep)} bodies into one solid where they overlap")
    if options.lay_flat:  # first, so the size applies to the part as it will be printed
        work = lay_flat(work)
        changes.append("laid flat on its largest flat face")
    if options.size_mm:
        work = scale_to_size(work, options.size_mm)
        changes.append(f"scaled so the longest side is {options.size_mm:g} mm")
    if options.target_faces and len(work.faces) > options.target_faces:
        work = simplify_to(work, options.target_faces)
        changes.append(f"simplified to {len(work.faces)} faces")
    work = place_on_bed(work)
    result = check(work)
    if not result.ok:
        raise MeshInvalid("The mesh could not be made printable: " + ", ".join(result.problems()) + ".")
    return RepairResult(
        mesh=work, changes=changes or ["nothing needed fixing"], report=printability_report(work)
    )


def lay_flat(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Rotate so the largest flat face of the convex hull rests on the bed (z = 0)."""
    hull = mesh.convex_hull
    areas = np.array([hull.area_faces[f].sum() for f in hull.facets]) if len(hull.facets) else np.array([])
    normal = (
        hull.facets_normal[int(np.argmax(areas))]
        if len(areas)
        else hull.face_normals[int(np.argmax(hull.area_faces))]
    )
    rotation = trimesh.geometry.align_vectors(normal, [0, 0, -1])
    out = mesh.copy()
    out.apply_transform(rotation)
    return place_on_bed(out)


def _merge_close_vertices(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Snap vertices to a grid of MERGE_TOLERANCE × diagonal so near-coincident ones merge."""
    diagonal = float(np.linalg.norm(mesh.extents)) or 1.0
    step = MERGE_TOLERANCE * diagonal
    snapped = np.round(mesh.vertices / step) * step
    return trimesh.Trimesh(snapped, mesh.faces, process=False)


def _drop_zero_area(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    areas = mesh.area_faces
    keep = areas > 1e-12 * max(float(areas.max()), 1e-30)
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False) if not keep.all() else mesh


def _shells(mesh: trimesh.Trimesh) -> list[trimesh.Trimesh]:
    """Pieces of surface joined across manifold edges (edges of exactly two faces); each piece
    gets its own vertices, so pieces meeting at a non-manifold edge or vertex come apart."""
    faces = np.asarray(mesh.faces)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    owner = np.tile(np.arange(len(faces)), 3)
    n = int(faces.max()) + 1
    key = edges[:, 0] * n + edges[:, 1]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    pairs = starts[counts == 2]
    a, b = owner[order[pairs]], owner[order[pairs + 1]]
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(faces), len(faces)))
    count, labels = csgraph.connected_components(graph, directed=False)
    pieces = []
    for label in range(count):
        piece = faces[labels == label]
        used, inverse = np.unique(piece, return_inverse=True)
        pieces.append(trimesh.Trimesh(mesh.vertices[used], inverse.reshape(-1, 3), process=False))
    return pieces


def _close_shell(shell: trimesh.Trimesh) -> tuple[trimesh.Trimesh | None, list[str]]:
    """Orient one piece consistently, fill its holes, turn it outward; ``None`` if it stays open."""
    notes: list[str] = []
    watertight, winding, _ = edge_checks(np.asarray(shell.faces))
    if not winding:
        trimesh.repair.fix_winding(shell)
        if edge_checks(np.asarray(shell.faces))[1]:
            notes.append("made the face winding consistent")
    if not watertight:
        before = len(shell.faces)
        trimesh.repair.fill_holes(shell)
        shell = trimesh.Trimesh(
            shell.vertices, remove_duplicate_faces(np.asarray(shell.faces)), process=False
        )
        if not edge_checks(np.asarray(shell.faces))[0]:
            return None, notes
        notes.append(f"filled holes with {len(shell.faces) - before} new faces")
    if signed_volume(shell.vertices, shell.faces) < 0:
        shell.invert()
        notes.append("turned an inside-out piece the right way out")
    return shell, notes


def _union(shells: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Boolean union of closed pieces with manifold3d (overlapping bodies become one)."""
    solids = []
    for shell in shells:
        solid = manifold3d.Manifold(
            manifold3d.Mesh(
                vert_properties=np.ascontiguousarray(shell.vertices, dtype=np.float32),
                tri_verts=np.ascontiguousarray(shell.faces, dtype=np.uint32),
            )
        )
        if str(solid.status()).rsplit(".", 1)[-1] != "NoError":
            raise MeshInvalid(f"A piece of the mesh is not a valid solid ({solid.status()}).")
        solids.append(solid)
    merged = (
        solids[0] if len(solids) == 1 else manifold3d.Manifold.batch_boolean(solids, manifold3d.OpType.Add)
    )
    out = merged.to_mesh()
    return trimesh.Trimesh(
        np.asarray(out.vert_properties)[:, :3].astype(np.float64),
        np.asarray(out.tri_verts, dtype=np.int64),
        process=False,
    )
