"""Solids built from height fields are closed by construction, whatever the mask looks like."""

from __future__ import annotations

import numpy as np
import pytest

from orfeas.mesh.heightfield import corner_heights, fix_pinches, masked_solid, slab
from orfeas.mesh.verify import check


def _random_mask(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((size, size)) < 0.55  # speckled: pinches, holes, islands everywhere


@pytest.mark.unit
def test_fix_pinches_leaves_no_diagonal_only_contacts() -> None:
    mask = fix_pinches(_random_mask(1))
    a, b, c, d = mask[:-1, :-1], mask[:-1, 1:], mask[1:, :-1], mask[1:, 1:]
    assert not np.any(a & d & ~b & ~c) and not np.any(b & c & ~a & ~d)


@pytest.mark.unit
@pytest.mark.parametrize("seed", range(6))
def test_masked_solid_is_watertight_for_any_mask(seed: int) -> None:
    mask = fix_pinches(_random_mask(seed))
    front = corner_heights(np.full(mask.shape, 2.0), mask) + 0.5
    mesh = masked_solid(mask, front, np.zeros_like(front), pixel_mm=0.5)
    result = check(mesh)
    assert result.ok, result.problems()
    assert result.bodies >= 1


@pytest.mark.unit
def test_masked_square_has_the_expected_volume() -> None:
    mask = np.zeros((12, 12), bool)
    mask[1:11, 1:11] = True
    front = np.full((13, 13), 3.0)
    mesh = masked_solid(mask, front, np.zeros_like(front), pixel_mm=1.0, outline_smoothing=0)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(10 * 10 * 3.0)
    assert mesh.face_normals[0, 2] > 0.99  # the front faces up


@pytest.mark.unit
def test_outline_smoothing_moves_vertices_less_than_half_a_cell() -> None:
    mask = fix_pinches(_random_mask(3))
    front = np.full((41, 41), 1.0)
    rough = masked_solid(mask, front, np.zeros_like(front), 1.0, outline_smoothing=0)
    smooth = masked_solid(mask, front, np.zeros_like(front), 1.0, outline_smoothing=8)
    shift = np.linalg.norm(rough.vertices[:, :2] - smooth.vertices[:, :2], axis=1)
    assert 0 < shift.max() <= 0.45 + 1e-9
    assert check(smooth).ok


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
