"""Closing neural surfaces (orfeas.mesh.closing): closed by construction from a field, planar holes
capped, bodies oriented, specks dropped — and a hole that cannot be capped honestly stays open.

(These test ``orfeas.mesh.closing``; they live here beside the engine that needs it.)"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.mesh.closing import close_mesh, surface_from_field
from orfeas.mesh.verify import check, signed_volume
from tests.conftest import require


def _ball_field(radius: float, half_box: float, cells: int = 24) -> np.ndarray:
    axis = np.linspace(-half_box, half_box, cells + 1)
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    return radius - np.sqrt(x**2 + y**2 + z**2)  # positive inside, like occupancy logits


def _skimage() -> None:
    from orfeas.engines.gpu import installed

    require(installed("skimage"), "scikit-image is not installed")


@pytest.mark.unit
def test_a_shape_cut_by_the_box_comes_out_closed() -> None:
    _skimage()
    from skimage import measure

    field = _ball_field(radius=1.0, half_box=0.8)  # the ball pokes out of every face of the box
    bounds = (-0.8, -0.8, -0.8, 0.8, 0.8, 0.8)
    open_surface = measure.marching_cubes(field, 0.0)  # what plain marching cubes gives
    assert not check(trimesh.Trimesh(open_surface[0], open_surface[1])).watertight
    mesh = surface_from_field(field, 0.0, bounds)
    assert mesh is not None
    result = check(mesh)
    assert result.ok, result.problems()
    cell = 1.6 / 24
    assert np.all(np.abs(np.abs(mesh.bounds) - 0.8) < cell)  # the caps lie within a cell of the box
    samples = np.linspace(-0.8, 0.8, 161)
    x, y, z = np.meshgrid(samples, samples, samples, indexing="ij")
    expected = float(np.mean(x**2 + y**2 + z**2 < 1.0)) * 1.6**3  # the cube less its corners
    assert expected * 0.99 < result.volume_mm3 < expected * 1.05  # caps sit just outside the box


@pytest.mark.unit
def test_a_field_inside_the_box_gives_the_ball() -> None:
    _skimage()
    mesh = surface_from_field(_ball_field(radius=0.6, half_box=1.0, cells=40), 0.0, (-1, -1, -1, 1, 1, 1))
    assert mesh is not None and check(mesh).ok
    assert signed_volume(mesh.vertices, mesh.faces) == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.03)


@pytest.mark.unit
def test_a_field_without_a_crossing_has_no_surface() -> None:
    _skimage()
    assert surface_from_field(np.full((5, 5, 5), -1.0), 0.0, (0, 0, 0, 1, 1, 1)) is None


@pytest.mark.unit
def test_a_planar_hole_is_capped() -> None:
    box = trimesh.creation.box((2.0, 3.0, 4.0))
    top = np.isclose(box.triangles_center[:, 2], 2.0)
    opened = trimesh.Trimesh(box.vertices, box.faces[~top], process=False)
    assert not check(opened).watertight
    closed = close_mesh(opened)
    assert closed.report.holes_found == 1 and closed.report.holes_capped == 1
    assert closed.report.faces_added == 2 and closed.report.closed
    result = check(closed.mesh)
    assert result.ok and result.volume_mm3 == pytest.approx(24.0)


@pytest.mark.unit
def test_inside_out_bodies_are_turned_and_specks_dropped() -> None:
    big = trimesh.creation.box((10.0, 10.0, 10.0))
    inverted = trimesh.Trimesh(big.vertices, big.faces[:, ::-1], process=False)
    speck = trimesh.creation.box((0.5, 0.5, 0.5))
    speck.apply_translation([20, 0, 0])
    both = trimesh.util.concatenate([inverted, speck])
    kept = close_mesh(both)
    assert kept.report.bodies_flipped == 1 and kept.report.bodies == 2 and kept.report.bodies_removed == 0
    dropped = close_mesh(both, min_body_share=0.01)
    assert dropped.report.bodies == 1 and dropped.report.bodies_removed == 1
    assert dropped.report.volume_removed_share == pytest.approx(0.125 / 1000.125, abs=1e-6)
    assert check(dropped.mesh).volume_mm3 == pytest.approx(1000.0)


@pytest.mark.unit
def test_a_hole_that_is_not_flat_is_left_open_and_said() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    cap = sphere.triangles_center[:, 2] > 0.7  # a bowl-shaped opening: its rim is not one plane
    opened = trimesh.Trimesh(sphere.vertices, sphere.faces[~cap], process=False)
    closed = close_mesh(opened)
    assert closed.report.holes_found == 1 and closed.report.holes_capped == 0
    assert not closed.report.closed and not check(closed.mesh).watertight  # verification refuses it
