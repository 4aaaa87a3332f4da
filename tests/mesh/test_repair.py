"""Clean-up and simplification keep meshes closed and never delete volume."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.mesh.repair import clean_mesh, place_on_bed, remove_duplicate_faces, scale_to_size, simplify_to
from orfeas.mesh.verify import check


@pytest.mark.unit
def test_opposite_duplicate_faces_are_removed_as_a_pair() -> None:
    faces = np.array([[0, 1, 2], [2, 1, 0], [0, 2, 3], [3, 0, 2], [0, 3, 2], [4, 5, 6]])
    out = remove_duplicate_faces(faces)
    keys = {tuple(sorted(f)) for f in out.tolist()}
    assert (0, 1, 2) not in keys  # the fin is gone
    assert [tuple(sorted(f)) for f in out.tolist()].count((0, 2, 3)) == 1
    assert (4, 5, 6) in keys


@pytest.mark.unit
def test_clean_mesh_merges_split_vertices_into_a_closed_box() -> None:
    box = trimesh.creation.box((10, 20, 30))
    split = trimesh.Trimesh(
        box.triangles.reshape(-1, 3), np.arange(len(box.faces) * 3).reshape(-1, 3), process=False
    )
    assert not split.is_watertight
    cleaned = clean_mesh(split)
    assert len(cleaned.vertices) == 8 and check(cleaned).ok
    assert cleaned.volume == pytest.approx(6000)


@pytest.mark.unit
def test_clean_mesh_rejects_non_finite_coordinates() -> None:
    box = trimesh.creation.box()
    vertices = box.vertices.copy()
    vertices[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        clean_mesh(trimesh.Trimesh(vertices, box.faces, process=False))


@pytest.mark.unit
def test_simplify_reaches_target_keeps_volume_and_colours() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=20)
    sphere.visual.vertex_colors = np.tile([10, 200, 30, 255], (len(sphere.vertices), 1))
    small = simplify_to(sphere, 2_000)
    assert len(small.faces) <= 2_100
    assert check(small).ok
    assert small.volume == pytest.approx(sphere.volume, rel=0.02)
    assert np.all(small.visual.vertex_colors[:, 1] == 200)


@pytest.mark.unit
def test_scale_and_place_on_bed() -> None:
    box = trimesh.creation.box((2, 4, 1))
    scaled = scale_to_size(box, 100)
    assert scaled.extents.max() == pytest.approx(100)
    assert scaled.bounds[0, 2] == pytest.approx(0)
    placed = place_on_bed(trimesh.creation.box((2, 2, 2)))
    assert placed.bounds[0].tolist() == pytest.approx([-1, -1, 0])
    with pytest.raises(ValueError):
        scale_to_size(trimesh.Trimesh(np.zeros((3, 3)), [[0, 1, 2]], process=False), 10)
