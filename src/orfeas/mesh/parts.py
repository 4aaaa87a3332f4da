"""A model in several coloured parts: :class:`Part`, and the checks and figures for a set of them.

A colour print is one object printed in several filaments. Each colour is its own closed part;
the parts touch without overlapping, so together they fill exactly the object (their union, the
one solid every other format and check sees). The pipeline moves the parts with the object
(:func:`moved`), :func:`check_parts` holds them to that contract, and :func:`parts_report` says
what each costs in filament. The file formats write them: one volume per part in 3MF (with the
slicers' extruder assignment), one material per part in GLB, one STL per part in a ZIP.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import manifold3d
import numpy as np
import trimesh

from orfeas.errors import MeshInvalid
from orfeas.mesh.report import PLA_DENSITY
from orfeas.mesh.solids import to_trimesh
from orfeas.mesh.verify import check, face_bodies

#: Filament diameter the length estimate assumes (mm).
FILAMENT_DIAMETER_MM = 1.75
#: The parts' volumes may add up to the union's within this share (they touch, never overlap).
VOLUME_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Part:
    """One part of a model, printed in one filament: a closed mesh in millimetres, its colour
    (sRGB) and the area of the model's top it shows (mm², seen from above)."""

    name: str
    mesh: trimesh.Trimesh
    colour: tuple[int, int, int]
    shown_mm2: float = 0.0

    @property
    def hex(self) -> str:
        r, g, b = self.colour
        return f"#{r:02x}{g:02x}{b:02x}"


def transformed(parts: list[Part], scale: float, offset: np.ndarray) -> list[Part]:
    """The parts scaled by ``scale`` about the origin, then moved by ``offset`` (mm): as the
    pipeline scales and places the whole model."""
    out = []
    for part in parts:
        vertices = np.asarray(part.mesh.vertices, dtype=np.float64) * scale + np.asarray(offset, np.float64)
        mesh = trimesh.Trimesh(vertices, part.mesh.faces, process=False)
        out.append(replace(part, mesh=mesh, shown_mm2=part.shown_mm2 * scale**2))
    return out


def check_parts(parts: list[Part], union: trimesh.Trimesh) -> None:
    """Raise :class:`MeshInvalid` unless every part is a closed, printable solid of its own and
    the parts fill ``union`` without overlapping (their volumes add up to its volume)."""
    total = 0.0
    for part in parts:
        found = check(part.mesh)
        if not found.ok:
            raise MeshInvalid(
                f"The {part.name} part ({part.hex}) failed verification: {', '.join(found.problems())}."
            )
        total += found.volume_mm3
    whole = check(union).volume_mm3
    if abs(total - whole) > VOLUME_TOLERANCE * max(whole, 1.0):
        raise MeshInvalid(
            f"The colour parts do not fill the object exactly: their volumes add up to {total:.1f} mm³ "
            f"where the object has {whole:.1f} mm³ (they overlap or leave gaps)."
        )


def filament_m(volume_mm3: float, diameter_mm: float = FILAMENT_DIAMETER_MM) -> float:
    """Metres of filament of ``diameter_mm`` that hold ``volume_mm3``."""
    return volume_mm3 / (np.pi * (diameter_mm / 2) ** 2) / 1000.0


def parts_report(parts: list[Part]) -> list[dict[str, Any]]:
    """The report's palette: for each part, in extruder order, its colour, the share of the top it
    shows and the filament it takes (solid PLA, see :data:`orfeas.mesh.report.PLA_DENSITY`)."""
    shown = sum(p.shown_mm2 for p in parts) or 1.0
    out = []
    for extruder, part in enumerate(parts, start=1):
        volume = check(part.mesh).volume_mm3
        out.append(
            {
                "extruder": extruder,
                "name": part.name,
                "hex": part.hex,
                "share": round(part.shown_mm2 / shown, 4),
                "volume_cm3": round(volume / 1000.0, 4),
                "filament_g": round(volume / 1000.0 * PLA_DENSITY, 2),
                "filament_m": round(filament_m(volume), 3),
            }
        )
    return out


def filament_assumption() -> str:
    return (
        f"solid PLA at {PLA_DENSITY} g/cm³, {FILAMENT_DIAMETER_MM} mm filament "
        "(an upper bound; infill prints lighter)"
    )


def fused(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A mesh of closed shells, some touching or overlapping (a colour print's parts read back from
    a file), as their union (manifold3d); any other mesh as it is."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    labels = face_bodies(faces, len(mesh.vertices))
    shells = np.unique(labels)
    if len(shells) < 2:
        return mesh
    solids = []
    for shell in shells:
        own = faces[labels == shell]
        used, inverse = np.unique(own, return_inverse=True)
        solid = manifold3d.Manifold(
            manifold3d.Mesh(
                vert_properties=np.ascontiguousarray(np.asarray(mesh.vertices)[used], dtype=np.float32),
                tri_verts=np.ascontiguousarray(inverse.reshape(-1, 3), dtype=np.uint32),
            )
        )
        if solid.status() != manifold3d.Error.NoError:
            return mesh  # not closed shells: nothing to join
        solids.append(solid)
    union = manifold3d.Manifold.batch_boolean(solids, manifold3d.OpType.Add)
    if len(union.decompose()) == len(solids):
        return mesh  # separate bodies, none touching: keep them (and their colours) as they are
    return to_trimesh(union)
