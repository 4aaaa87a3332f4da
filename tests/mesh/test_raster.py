"""The top-down z-buffer: heights, silhouettes and seen triangles of meshes whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.mesh.raster import PixelGrid, height_map, mesh_height_map, shaded


@pytest.mark.unit
def test_a_sphere_seen_from_above_is_its_upper_half() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=20)
    grid = PixelGrid.around(sphere.bounds[0], sphere.bounds[1], 0.25)
    seen = mesh_height_map(sphere, grid)
    x, y = grid.centres()
    r2 = x**2 + y**2
    inside = r2 < 19.8**2
    exact = np.sqrt(np.maximum(400 - r2, 0))
    assert seen.covered[inside].all() and not seen.covered[r2 > 20.2**2].any()
    assert np.max(np.abs(seen.height - exact)[inside]) < 0.05  # chords of the icosphere
    assert seen.covered.sum() * 0.25**2 == pytest.approx(np.pi * 400, rel=0.01)
    assert np.all(seen.normal_z[inside] > 0)


@pytest.mark.unit
def test_the_highest_surface_wins_and_its_triangle_is_named() -> None:
    low = trimesh.creation.box((10, 10, 2))
    high = trimesh.creation.box((4, 4, 2))
    high.apply_translation([0, 0, 5])
    both = trimesh.util.concatenate([low, high])
    grid = PixelGrid.around(np.array([-6.0, -6.0]), np.array([6.0, 6.0]), 0.5)
    seen = mesh_height_map(both, grid)
    x, y = grid.centres()
    centre = (np.abs(x) < 1.9) & (np.abs(y) < 1.9)
    ring = (np.abs(x) < 4.9) & (np.abs(y) < 4.9) & ~((np.abs(x) < 2.1) & (np.abs(y) < 2.1))
    assert np.allclose(seen.height[centre], 6.0) and np.allclose(seen.height[ring], 1.0)
    assert np.all(seen.face[centre] >= len(low.faces))  # the small box's own faces
    assert np.isnan(seen.height[~seen.covered]).all() and (seen.face[~seen.covered] == -1).all()


@pytest.mark.unit
def test_long_thin_triangles_and_a_tilted_plane() -> None:
    # One sliver across the whole grid: spans, not bounding boxes, decide what is covered.
    vertices = np.array([[0.0, 0.0, 0.0], [50.0, 0.3, 5.0], [50.0, 0.6, 5.0]])
    grid = PixelGrid((10, 60), 0.1, (0.0, 1.0))
    seen = height_map(vertices, np.array([[0, 1, 2]]), grid)
    assert 0 < seen.covered.sum() < 0.3 * 50 / 0.01 * 0.5 * 1.2
    x, _ = grid.centres()
    assert np.allclose(seen.height[seen.covered], (x / 10.0)[seen.covered], atol=1e-9)  # z = x / 10


@pytest.mark.unit
def test_faces_looking_down_are_skipped_unless_asked() -> None:
    cube = trimesh.creation.box((4, 4, 4))
    grid = PixelGrid.around(cube.bounds[0], cube.bounds[1], 0.5)
    faces = cube.faces[cube.face_normals[:, 2] < -0.5]
    assert not height_map(cube.vertices, faces, grid).covered.any()
    assert height_map(cube.vertices, faces, grid, upward_only=False).covered.any()


@pytest.mark.unit
def test_shaded_picture_is_white_where_nothing_is() -> None:
    cube = trimesh.creation.box((4, 4, 4))
    picture = shaded(mesh_height_map(cube, PixelGrid.around(cube.bounds[0] - 2, cube.bounds[1] + 2, 0.5)))
    assert (
        picture.dtype == np.uint8
        and picture[0, 0] == 255
        and picture[picture.shape[0] // 2, picture.shape[1] // 2] < 255
    )
