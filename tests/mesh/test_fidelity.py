"""Fidelity: a mesh that is what was meant measures as such; shards, tents, missing parts and
shifted outlines are caught, and verification refuses a model beyond the bound."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from orfeas.errors import MeshInvalid
from orfeas.mesh.fidelity import (
    Fidelity,
    Intent,
    allowed_deviation_mm,
    deviation_bound_mm,
    faithful,
    measure,
    require_faithful,
)
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

PIXEL = 0.25


def _box(low: tuple[float, float, float], high: tuple[float, float, float]) -> trimesh.Trimesh:
    box = trimesh.creation.box(np.subtract(high, low))
    box.apply_translation(np.add(low, high) / 2)
    return box


def _plate_with_block() -> tuple[trimesh.Trimesh, Intent]:
    """A 40 × 20 × 2 mm plate with a 10 × 10 × 3 mm block on it, and exactly that as the intent."""
    plate = _box((0, 0, 0), (40, 20, 2))
    block = _box((5, 5, 0), (15, 15, 5))
    mesh = trimesh.boolean.union([plate, block], engine="manifold")
    grid = PixelGrid((80, 160), PIXEL, (0.0, 20.0))
    x, y = grid.centres()
    subject = (x > 5) & (x < 15) & (y > 5) & (y < 15)
    height = np.where(subject, 5.0, 2.0)
    return mesh, Intent(grid, subject, height, plate_mm=2.0)


def _measure(mesh: trimesh.Trimesh, intent: Intent) -> Fidelity:
    return measure(mesh.vertices, mesh.faces, intent, deviation_bound_mm(intent))


@pytest.mark.unit
def test_a_mesh_that_is_what_was_meant() -> None:
    mesh, intent = _plate_with_block()
    result = _measure(mesh, intent)
    assert result.silhouette_iou > 0.99
    assert result.max_deviation_mm < 1e-6 and result.stray_share == 0.0 and result.within_bound
    block = result.as_dict()
    assert block["deviation_mm"]["mesh_to_intent"]["max"] == 0.0 and block["view"] == "top"
    assert result.score() > 0.98
    require_faithful(result)  # does not raise


@pytest.mark.unit
def test_a_shard_on_the_plate_is_stray_and_fails_verification() -> None:
    mesh, intent = _plate_with_block()
    shard = trimesh.Trimesh([[25, 5, 2], [35, 6, 2], [30, 15, 4.5]], [[0, 1, 2]], process=False)
    broken = trimesh.util.concatenate([mesh, shard])
    result = _measure(broken, intent)
    assert result.stray_area_mm2 > 20 and result.stray_share > 0.02
    assert result.mesh_to_intent_max_mm > 2.0 and not result.within_bound
    with pytest.raises(MeshInvalid, match="does not match what was meant") as caught:
        require_faithful(result)
    assert caught.value.code == "mesh_invalid"


@pytest.mark.unit
def test_a_tent_between_two_parts_is_caught() -> None:
    plate = _box((0, 0, 0), (40, 20, 2))
    left, right = _box((4, 5, 0), (12, 15, 6)), _box((28, 5, 0), (36, 15, 6))
    mesh = trimesh.boolean.union([plate, left, right], engine="manifold")
    # A roof from one top to the other, as a careless simplifier leaves it.
    tent = trimesh.Trimesh([[12, 5, 6], [28, 5, 6], [20, 15, 2]], [[0, 1, 2]], process=False)
    grid = PixelGrid((80, 160), PIXEL, (0.0, 20.0))
    x, y = grid.centres()
    subject = (((x > 4) & (x < 12)) | ((x > 28) & (x < 36))) & (y > 5) & (y < 15)
    intent = Intent(grid, subject, np.where(subject, 6.0, 2.0), plate_mm=2.0)
    clean, tented = _measure(mesh, intent), _measure(trimesh.util.concatenate([mesh, tent]), intent)
    assert clean.stray_share == 0.0 and clean.within_bound
    assert tented.stray_share > 0.05 and tented.mesh_to_intent_max_mm > 2.0
    assert tented.silhouette_iou < clean.silhouette_iou  # the tent stands over the gap


@pytest.mark.unit
def test_a_missing_part_costs_silhouette_and_intent_to_mesh_distance() -> None:
    half = _box((0, 0, 0), (20, 20, 3))
    grid = PixelGrid((80, 160), PIXEL, (0.0, 20.0))
    whole = np.ones(grid.shape, dtype=bool)
    result = _measure(half, Intent(grid, whole, np.full(grid.shape, 3.0)))
    assert result.silhouette_iou == pytest.approx(0.5, abs=0.02)
    assert result.mesh_to_intent_max_mm < 1e-6  # what is there is right
    assert result.intent_to_mesh_max_mm == pytest.approx(20.0 - PIXEL / 2, abs=0.3)  # what is missing is far


@pytest.mark.unit
def test_a_wall_a_pixel_off_is_no_deviation_but_three_pixels_are() -> None:
    grid = PixelGrid((40, 80), PIXEL, (0.0, 10.0))
    x, _ = grid.centres()
    meant = x < 10.0
    intent = Intent(grid, meant, np.where(meant, 4.0, np.nan))
    near = _measure(_box((0, 0, 0), (10.0 + 0.8 * PIXEL, 10, 4)), intent)
    far = _measure(_box((0, 0, 0), (10.0 + 3 * PIXEL, 10, 4)), intent)
    assert near.max_deviation_mm == 0.0
    assert far.mesh_to_intent_max_mm > PIXEL  # the extra strip is more than a pixel from any surface


@pytest.mark.unit
def test_the_intent_moves_with_the_mesh() -> None:
    mesh, intent = _plate_with_block()
    offset = np.array([-20.0, -10.0, 1.5])
    moved = mesh.copy()
    moved.apply_translation(offset)
    result = _measure(moved, intent.moved(offset))
    assert result.silhouette_iou > 0.99 and result.max_deviation_mm < 1e-6
    assert _measure(moved, intent).silhouette_iou < 0.5


@pytest.mark.unit
def test_a_silhouette_from_the_front_fitted_to_the_mesh() -> None:
    # A neural engine knows only the picture's mask; the mesh stands on the bed, seen from −y.
    body = _box((-10, -3, 0), (10, 3, 30))
    mask = np.zeros((60, 40), dtype=bool)
    mask[:, :] = True
    intent = Intent(PixelGrid(mask.shape, 1.0, (0.0, 0.0)), mask, view="front", fit=True)
    result = measure(body.vertices, body.faces, intent)
    assert result.silhouette_iou > 0.97 and result.max_deviation_mm is None
    block = result.as_dict()
    assert block["view"] == "front" and block["deviation_mm"]["mesh_to_intent"]["max"] is None
    half = mask.copy()
    half[:, 20:] = False
    assert (
        measure(body.vertices, body.faces, Intent(intent.grid, half, view="front", fit=True)).silhouette_iou
        < 0.8
    )


@pytest.mark.unit
def test_the_bound_grows_with_the_relief_and_comes_from_settings() -> None:
    mesh, intent = _plate_with_block()
    assert deviation_bound_mm(intent) == pytest.approx(0.2)  # 2 % of 3 mm is less than the floor
    assert allowed_deviation_mm(30.0, Settings()) == pytest.approx(0.6)
    assert allowed_deviation_mm(1.0, Settings(fidelity_bound_mm=0.05)) == pytest.approx(0.05)
    shard = trimesh.Trimesh([[25, 5, 2], [35, 6, 2], [30, 15, 2.6]], [[0, 1, 2]], process=False)
    with pytest.raises(MeshInvalid):
        faithful(trimesh.util.concatenate([mesh, shard]), intent, Settings())
    assert faithful(
        trimesh.util.concatenate([mesh, shard]), intent, Settings(fidelity_bound_mm=1.0)
    ).within_bound
