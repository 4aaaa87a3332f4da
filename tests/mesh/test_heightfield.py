"""Solids built from height fields are closed by construction and stay within their error bound,
whatever the outline looks like; a plate around a subject stays exactly flat."""

from __future__ import annotations

import numpy as np
import pytest

from orfeas.mesh.fidelity import Intent, measure
from orfeas.mesh.heightfield import outline_solid, slab
from orfeas.mesh.outline import rasterize, trace
from orfeas.mesh.raster import PixelGrid, height_map
from orfeas.mesh.verify import check


def _random_mask(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((size, size)) < 0.55  # speckled: pinches, holes, islands everywhere


def _grid(shape: tuple[int, int], pixel_mm: float = 0.5) -> PixelGrid:
    return PixelGrid(shape, pixel_mm, (0.0, shape[0] * pixel_mm))


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(6))
def test_outline_solid_is_watertight_for_any_mask(seed: int) -> None:
    mask = _random_mask(seed)
    grid = _grid(mask.shape)
    outline = trace(mask.astype(np.float32), grid, tolerance_mm=0.1)
    front = np.where(mask, 2.5, np.nan)
    mesh = outline_solid(
        outline, grid, front, front_edge=0.5, refine=mask, max_error_mm=0.05, max_faces=20_000
    )
    result = check(mesh)
    assert result.ok, result.problems()
    assert result.bodies >= 1


@pytest.mark.unit
def test_a_square_has_the_expected_volume_and_a_flat_top() -> None:
    mask = np.zeros((12, 12), bool)
    mask[1:11, 1:11] = True
    grid = _grid(mask.shape, 1.0)
    outline = trace(mask.astype(np.float32), grid, tolerance_mm=0.05, soften=False)
    mesh = outline_solid(
        outline, grid, np.full(mask.shape, 3.0), front_edge=3.0, max_error_mm=0.01, max_faces=5_000
    )
    assert check(mesh).ok
    assert mesh.volume == pytest.approx(10 * 10 * 3.0, rel=0.01)
    assert len(mesh.faces) < 60  # a flat top needs no vertex inside
    assert mesh.bounds[1, 2] == pytest.approx(3.0)


@pytest.mark.unit
def test_a_dome_is_meshed_within_the_error_bound() -> None:
    size = 81
    y, x = np.mgrid[0:size, 0:size] - 40.0
    r2 = x**2 + y**2
    mask = r2 < 38**2
    grid = _grid(mask.shape, 0.5)
    dome = np.where(mask, np.sqrt(np.maximum(38**2 - r2, 0)) * 0.5 + 0.4, np.nan)
    outline = trace(mask.astype(np.float32), grid, tolerance_mm=0.1)
    mesh = outline_solid(
        outline, grid, dome, front_edge=0.4, refine=mask, max_error_mm=0.05, max_faces=50_000
    )
    assert check(mesh).ok
    seen = height_map(mesh.vertices, mesh.faces, grid)
    inner = mask & (r2 < 34**2)
    error = np.abs(seen.height - dome)[inner]
    # Within the aim but for a few cells, and those inside the hard limit.
    assert np.mean(error > 0.05 + 1e-6) <= 0.005 and error.max() <= 0.12
    fidelity = measure(mesh.vertices, mesh.faces, Intent(grid, mask, dome), 0.2)
    assert fidelity.silhouette_iou > 0.99 and fidelity.max_deviation_mm <= 0.2
    assert len(mesh.faces) < 0.5 * 2 * mask.sum()  # adaptive: far fewer than two per cell


@pytest.mark.unit
def test_a_plate_around_a_raised_subject_is_exactly_flat() -> None:
    size = 60
    y, x = np.mgrid[0:size, 0:size]
    subject = ((x - 20) ** 2 + (y - 30) ** 2 < 10**2) | ((x - 42) ** 2 + (y - 30) ** 2 < 8**2)
    grid = _grid(subject.shape, 0.5)
    top = np.where(subject, 2.0 + 1.5, 2.0)
    plate = [np.array([[0.0, 0.0], [30.0, 0.0], [30.0, 30.0], [0.0, 30.0]])]
    creases = trace(subject.astype(np.float32), grid, tolerance_mm=0.05)
    mesh = outline_solid(
        plate,
        grid,
        top,
        front_edge=2.0,
        creases=creases,
        crease_z=2.0,
        refine=subject,
        max_error_mm=0.02,
        max_faces=20_000,
    )
    assert check(mesh).ok and check(mesh).bodies == 1
    seen = height_map(mesh.vertices, mesh.faces, grid)
    inside = rasterize(creases, grid)
    # Nothing between the two parts or around them rises off the plate.
    assert np.all(np.abs(seen.height[~inside] - 2.0) < 1e-9)


@pytest.mark.unit
def test_slab_is_closed_with_flat_back_and_exact_thickness() -> None:
    y, x = np.mgrid[0:64, 0:80]
    top = 1.0 + 2.0 * (np.sin(x / 7.0) * np.cos(y / 9.0) + 1) / 2
    mesh = slab(top.astype(np.float32), pixel_mm=0.5, max_error_mm=0.01, max_triangles=20_000)
    result = check(mesh)
    assert result.ok, result.problems()
    assert mesh.bounds[0, 2] == pytest.approx(0.0)
    assert mesh.bounds[1, 2] == pytest.approx(top.max(), abs=1e-5)
    assert mesh.extents[0] == pytest.approx(79 * 0.5) and mesh.extents[1] == pytest.approx(63 * 0.5)


@pytest.mark.unit
def test_slab_follows_the_picture_the_right_way_up() -> None:
    top = np.ones((40, 50), np.float32)
    top[:10, :] = 3.0  # the picture's top rows are thick
    mesh = slab(top, pixel_mm=1.0, max_error_mm=0.01, max_triangles=5_000)
    grid = PixelGrid(top.shape, 1.0, (-0.5, 39.5))
    seen = height_map(mesh.vertices, mesh.faces, grid)
    assert np.allclose(seen.height[:9], 3.0) and np.allclose(seen.height[11:], 1.0)
