"""Solids of revolution: segment counts keep the chordal error, vessels have the wall, floor,
opening and capacity asked for, and the section measurement is exact."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.mesh.revolve import (
    ClosedTop,
    Profile,
    chordal_error_mm,
    section_extents,
    segments_for,
    turned_solid,
    vessel,
)
from orfeas.mesh.solids import to_trimesh
from orfeas.mesh.verify import check


def _cylinder(radius: float = 20.0, height: float = 60.0, points: int = 30) -> Profile:
    z = np.linspace(0, height, points)
    return Profile(z, np.full_like(z, radius))


@pytest.mark.unit
@pytest.mark.parametrize("radius", [2.0, 15.0, 40.0, 150.0])
def test_segments_keep_the_chordal_error(radius: float) -> None:
    n = segments_for(radius, 0.05)
    assert n % 4 == 0
    assert chordal_error_mm(radius, n) <= 0.05
    assert n == 16 or chordal_error_mm(radius, n - 4) > 0.05  # and no more than needed


@pytest.mark.unit
def test_turned_cylinder_is_closed_and_exact() -> None:
    mesh = to_trimesh(turned_solid(_cylinder(), 64), double=True)
    result = check(mesh)
    assert result.ok and result.bodies == 1
    assert mesh.extents == pytest.approx([40, 40, 60], abs=1e-9)
    polygon_area = 0.5 * 64 * 20**2 * np.sin(2 * np.pi / 64)
    assert result.volume_mm3 == pytest.approx(polygon_area * 60, rel=1e-9)


@pytest.mark.unit
def test_vessel_has_its_wall_floor_opening_and_capacity() -> None:
    built = vessel(_cylinder(), 64, wall_mm=2.0, bottom_mm=3.0)
    mesh = to_trimesh(built.solid, double=True)
    assert check(mesh).ok and check(mesh).bodies == 1
    # The wall is made a little thicker than asked, so that it still is between facets (chords).
    assert built.opening_radius_mm == pytest.approx(20 - 2 / np.cos(np.pi / 64) ** 2, abs=0.01)
    assert built.floor_mm == pytest.approx(3.0)
    # Capacity: the 64-gon prism of the cavity's radius, from the floor to the rim.
    cavity_radius = built.opening_radius_mm
    expected = 0.5 * 64 * cavity_radius**2 * np.sin(2 * np.pi / 64) * (60 - 3)
    assert built.capacity_mm3 == pytest.approx(expected, rel=2e-3)
    # The section at mid-height is two 64-gons; between their sides (apothems) the wall is ≥ 2 mm.
    ring = trimesh.intersections.mesh_plane(mesh, [0, 0, 1], [0, 0, 30])
    radii = np.linalg.norm(ring.reshape(-1, 3)[:, :2], axis=1)
    outer, inner = radii[radii > 19].max(), radii[radii < 19].max()
    assert outer == pytest.approx(20, abs=1e-6)
    assert (outer - inner) * np.cos(np.pi / 64) >= 2.0


@pytest.mark.unit
def test_vessel_keeps_a_thick_foot_solid() -> None:
    # A goblet: wide foot (5 mm thick), thin stem, a bowl. Only the bowl is hollowed.
    z = np.array([0, 5, 5.01, 20, 20.01, 40])
    r = np.array([20, 20, 2.5, 2.5, 15, 15])
    built = vessel(Profile(z, r), 64, wall_mm=1.6, bottom_mm=2.0)
    mesh = to_trimesh(built.solid, double=True)
    assert check(mesh).ok and check(mesh).bodies == 1  # no closed void in the foot
    assert built.floor_mm > 20


@pytest.mark.unit
def test_vessel_refuses_a_closed_top() -> None:
    z = np.linspace(0, 40, 41)
    r = np.sqrt(np.maximum(20**2 - (z - 20) ** 2, 0)) + 0.5  # a ball on a point
    with pytest.raises(ClosedTop):
        vessel(Profile(z, r), 64, wall_mm=1.6, bottom_mm=2.0)


@pytest.mark.unit
def test_section_extents_are_exact_on_a_cone() -> None:
    cone = trimesh.creation.cone(radius=10, height=20, sections=64)
    extents = section_extents(cone, np.array([30.0, 1.0, 10.0, 19.0]))
    assert np.isnan(extents[0]).all()  # above the tip: no section
    assert extents[1:, 1] == pytest.approx([9.5, 5.0, 0.5])
    assert extents[1:, 0] == pytest.approx([-9.5, -5.0, -0.5])
