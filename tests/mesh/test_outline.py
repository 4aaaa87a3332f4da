"""Outlines: traced within tolerance, corners kept, holes kept, rasterised exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.mesh.outline import contours_of, cross_section, densified, rasterize, rounded_rectangle, trace
from orfeas.mesh.raster import PixelGrid


def _grid(shape: tuple[int, int], pixel_mm: float) -> PixelGrid:
    return PixelGrid(shape, pixel_mm, (0.0, shape[0] * pixel_mm))


def _supersampled_disc(size: int, radius: float) -> np.ndarray:
    big = np.zeros((size * 8, size * 8), np.uint8)
    cv2.circle(big, (size * 4, size * 4), int(radius * 8), 255, -1, lineType=cv2.LINE_AA)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


@pytest.mark.unit
def test_a_square_keeps_its_four_corners() -> None:
    mask = np.zeros((40, 40), np.float32)
    mask[8:32, 8:32] = 1
    (square,) = trace(mask, _grid(mask.shape, 0.5), tolerance_mm=0.05)
    assert len(square) == 4
    corners = np.sort(np.round(square, 1), axis=0)
    assert corners[0] == pytest.approx([4.0, 4.0], abs=0.1) and corners[-1] == pytest.approx(
        [16.0, 16.0], abs=0.1
    )


@pytest.mark.unit
@pytest.mark.parametrize("tolerance", [0.05, 0.02])
def test_a_disc_stays_within_the_tolerance_with_few_vertices(tolerance: float) -> None:
    coverage = _supersampled_disc(200, 80.0)
    pixel = 0.1
    (disc,) = trace(coverage, _grid(coverage.shape, pixel), tolerance_mm=tolerance)
    centre = np.array([100 * pixel, 100 * pixel])
    radius = np.linalg.norm(disc - centre, axis=1)
    assert np.max(np.abs(radius - 8.0)) <= tolerance + 0.01
    # A chord within the tolerance spans 2√(2 r t): about that many vertices, not one per pixel.
    needed = 2 * np.pi * 8.0 / (2 * np.sqrt(2 * 8.0 * tolerance))
    assert len(disc) < 3 * needed


@pytest.mark.unit
def test_holes_and_islands_follow_the_even_odd_rule() -> None:
    mask = np.zeros((60, 60), np.float32)
    cv2.circle(mask, (30, 30), 25, 1, -1)
    cv2.circle(mask, (30, 30), 15, 0, -1)
    cv2.circle(mask, (30, 30), 6, 1, -1)
    grid = _grid(mask.shape, 1.0)
    contours = trace(mask, grid, tolerance_mm=0.1)
    assert len(contours) == 3
    section = cross_section(contours)
    assert section.area() == pytest.approx(mask.sum(), rel=0.01)  # a pixel's area each
    inside = rasterize(contours, grid)
    assert inside[30, 30] and not inside[30, 30 + 10] and inside[30, 30 + 20]


@pytest.mark.unit
def test_rasterize_agrees_with_an_exact_point_in_polygon_test() -> None:
    rng = np.random.default_rng(3)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
    radii = rng.uniform(5, 14, 30)
    star = np.column_stack([15 + radii * np.cos(angles), 15 + radii * np.sin(angles)])
    grid = PixelGrid((60, 60), 0.5, (0.0, 30.0))
    inside = rasterize([star], grid)
    x, y = grid.centres()
    exact = np.array(
        [
            cv2.pointPolygonTest(star.astype(np.float32), (float(a), float(b)), False) > 0
            for a, b in zip(x.ravel(), y.ravel(), strict=True)
        ]
    ).reshape(x.shape)
    on_edge = np.array(
        [
            abs(cv2.pointPolygonTest(star.astype(np.float32), (float(a), float(b)), True)) < 1e-6
            for a, b in zip(x.ravel(), y.ravel(), strict=True)
        ]
    ).reshape(x.shape)
    assert np.array_equal(inside[~on_edge], exact[~on_edge])


@pytest.mark.unit
def test_densified_and_rounded_rectangle() -> None:
    (long,) = densified([np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 1.0], [0.0, 1.0]])], 2.0)
    steps = np.linalg.norm(np.roll(long, -1, axis=0) - long, axis=1)
    assert steps.max() <= 2.0 + 1e-9 and len(long) == 5 + 1 + 5 + 1
    plate = rounded_rectangle(np.array([0.0, 0.0]), np.array([40.0, 20.0]), 5.0)
    assert plate.area() == pytest.approx(40 * 20 - (4 - np.pi) * 25, rel=2e-3)
    (outline,) = contours_of(plate)
    assert outline[:, 0].min() == pytest.approx(0.0, abs=1e-6) and outline[:, 1].max() == pytest.approx(
        20.0, abs=1e-6
    )
