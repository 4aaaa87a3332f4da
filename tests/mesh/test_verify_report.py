"""Verification catches every broken mesh; the report measures what a maker needs."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.errors import MeshInvalid
from orfeas.mesh.report import QUALITY_WEIGHTS, overhang_share, printability_report, thinnest_wall_mm
from orfeas.mesh.verify import check, verify


@pytest.mark.unit
def test_closed_box_passes_every_check() -> None:
    result = verify(trimesh.creation.box((10, 10, 10)))
    assert result.ok and result.bodies == 1 and result.euler_number == 2
    assert result.volume_mm3 == pytest.approx(1000)


@pytest.mark.unit
@pytest.mark.parametrize("problem", ["hole", "flipped", "nan", "inside_out"])
def test_broken_meshes_fail_with_a_reason(problem: str) -> None:
    box = trimesh.creation.box((10, 10, 10))
    vertices, faces = box.vertices.copy(), box.faces.copy()
    if problem == "hole":
        faces = faces[:-1]
    elif problem == "flipped":
        faces[0] = faces[0, ::-1]
    elif problem == "nan":
        vertices[0, 0] = np.inf
    elif problem == "inside_out":
        faces = faces[:, ::-1]
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert not check(mesh).ok
    with pytest.raises(MeshInvalid, match="failed verification"):
        verify(mesh)


@pytest.mark.unit
def test_report_of_a_cube() -> None:
    cube = trimesh.creation.box((20, 20, 20))
    cube.apply_translation([0, 0, 10])
    report = printability_report(cube)
    assert report["printable"] and report["watertight"] and report["manifold3d_accepted"]
    assert report["volume_cm3"] == pytest.approx(8.0)
    assert report["area_cm2"] == pytest.approx(24.0)
    assert report["bbox_mm"] == pytest.approx([20, 20, 20])
    assert report["overhang_share"] == 0.0  # its bottom lies on the bed
    assert report["filament_g"] == pytest.approx(8.0 * 1.24, abs=0.01)
    assert 0.0 <= report["quality_score"] <= 1.0
    assert sum(QUALITY_WEIGHTS.values()) == pytest.approx(1.0)


@pytest.mark.unit
def test_thin_plate_wall_and_overhang() -> None:
    plate = trimesh.creation.box((30, 30, 0.6))
    assert thinnest_wall_mm(plate) == pytest.approx(0.6, abs=0.15)
    # An upside-down cone hangs over the bed.
    cone = trimesh.creation.cone(radius=10, height=5)
    cone.apply_transform(trimesh.transformations.rotation_matrix(np.pi, [1, 0, 0]))
    cone.apply_translation([0, 0, -cone.bounds[0, 2]])
    assert overhang_share(cone) > 0.5


@pytest.mark.unit
def test_broken_mesh_scores_zero() -> None:
    box = trimesh.creation.box()
    report = printability_report(trimesh.Trimesh(box.vertices, box.faces[:-2], process=False))
    assert report["quality_score"] == 0.0 and not report["printable"] and report["problems"]


@pytest.mark.unit
def test_loose_parts_are_listed_and_halve_the_score() -> None:
    one = trimesh.creation.box((20, 20, 5))
    one.apply_translation([0, 0, 2.5])
    two = one.copy()
    two.apply_translation([40, 0, 0])
    single, split = printability_report(one), printability_report(trimesh.util.concatenate([one, two]))
    assert single["bodies"] == 1 and single["loose_parts"] == []
    assert split["bodies"] == 2 and len(split["loose_parts"]) == 2
    assert [part["volume_cm3"] for part in split["loose_parts"]] == pytest.approx([2.0, 2.0])
    assert sorted(part["center_mm"][0] for part in split["loose_parts"]) == pytest.approx([0.0, 40.0])
    assert split["quality_score"] == pytest.approx(single["quality_score"] * 0.5, abs=0.02)
    assert split["quality_parts"]["pieces"] == 0.5


@pytest.mark.unit
def test_fidelity_is_part_of_the_report_and_the_score() -> None:
    from orfeas.mesh.fidelity import Fidelity

    cube = trimesh.creation.box((20, 20, 20))
    cube.apply_translation([0, 0, 10])
    faithful = Fidelity(1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 0.25, "top")
    strayed = Fidelity(0.9, 0.1, 0.01, 0.1, 0.01, 50.0, 0.2, 0.2, 0.25, "top")
    good, bad = printability_report(cube, fidelity=faithful), printability_report(cube, fidelity=strayed)
    assert good["fidelity"]["silhouette_iou"] == 1.0 and good["fidelity"]["within_bound"]
    assert bad["fidelity"]["stray_share"] == 0.2 and bad["quality_parts"]["fidelity"] == pytest.approx(
        0.8 * 0.2
    )
    assert bad["quality_score"] < good["quality_score"] - 0.3
    assert "fidelity" not in printability_report(cube)  # nothing to compare a mesh from elsewhere with


@pytest.mark.unit
@pytest.mark.parametrize("side", [30.0, 100.0, 200.0])
def test_a_thin_plate_reads_thin_however_wide(side: float) -> None:
    # Evenly spread samples sit a spacing apart across the plate too: 200 mm wide read as 2.6 mm.
    plate = trimesh.creation.box((side, side, 0.6))
    assert thinnest_wall_mm(plate) == pytest.approx(0.6, abs=0.1)


@pytest.mark.unit
def test_a_tube_wall_is_its_thickness() -> None:
    tube = trimesh.creation.annulus(r_min=9.0, r_max=10.0, height=30.0)
    assert thinnest_wall_mm(tube) == pytest.approx(1.0, abs=0.1)


@pytest.mark.unit
def test_a_thick_block_with_a_thin_fin_reads_the_fin() -> None:
    # Same-side neighbours used to hide a block's far side (it read as the smallest extent); the
    # other side is now looked for among points facing away, however far, and the fin still wins.
    block = trimesh.creation.box((40.0, 40.0, 5.0))
    fin = trimesh.creation.box((30.0, 0.8, 10.0))
    fin.apply_translation((0.0, 0.0, 7.5))
    finned = trimesh.boolean.union([block, fin], engine="manifold")
    assert thinnest_wall_mm(finned) == pytest.approx(0.8, abs=0.1)
    assert thinnest_wall_mm(trimesh.creation.icosphere(4, radius=10.0)) > 15.0
