"""``lithophane`` shapes: ``flat``, ``curved`` (an arc of ``arc_deg``) and ``cylinder`` (a closed lamp
shade ``diameter_mm`` across with an optional bottom ring). A cylinder is a tube — one body,
genus 1, round, open through its axis — and the thickness, measured through the wall, follows the
picture and is nowhere under ``min_thickness_mm``."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

import orfeas
from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, validate_parameters
from orfeas.engines.relief.lithophane import thickness_image
from orfeas.errors import InputRejected
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import gltf_validation, manifold_of, png_bytes, signed_area, slicer_problems


def _ramp(width: int = 300, height: int = 100) -> np.ndarray:
    """Dark on the left to light on the right, with a light band across the middle."""
    grey = np.tile(np.linspace(0, 255, width), (height, 1))
    grey[height // 2 - 5 : height // 2 + 5] = 255
    image = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    return image.astype(np.uint8)


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    checked = validate_parameters(engine, {"mode": "lithophane", **params})
    return engine.generate(EngineInput(rgba=rgba), checked, Settings()), checked


def _through_wall(
    mesh: trimesh.Trimesh, axis: np.ndarray, angles: np.ndarray, heights: np.ndarray
) -> np.ndarray:
    """The wall's thickness along rays from ``axis`` outward at each angle (counter-clockwise from
    −y, seen from above) and height: in a cut at that height, the distance between the ray's first
    and last crossing of the outline."""
    solid = manifold_of(mesh)
    out = np.full((len(heights), len(angles)), np.nan)
    for i, z in enumerate(heights):
        loops = [np.asarray(q, dtype=np.float64) - axis for q in solid.slice(float(z)).to_polygons()]
        p = np.concatenate(loops)
        q = np.concatenate([np.roll(loop, -1, axis=0) for loop in loops])
        for j, a in enumerate(angles):
            d = np.array([np.sin(a), -np.cos(a)])
            e = q - p
            denom = d[0] * e[:, 1] - d[1] * e[:, 0]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (p[:, 0] * e[:, 1] - p[:, 1] * e[:, 0]) / denom  # along the ray
                s = (p[:, 0] * d[1] - p[:, 1] * d[0]) / denom  # along the edge
            hit = (np.abs(denom) > 1e-12) & (s >= 0) & (s <= 1) & (t > 0)
            if hit.any():
                out[i, j] = t[hit].max() - t[hit].min()
    return out


def _centre(mesh: trimesh.Trimesh) -> np.ndarray:
    return (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2


@pytest.mark.unit
def test_a_cylinder_is_a_round_tube_open_through_its_axis(tmp_path) -> None:
    out, _ = _run(_ramp(), shape="cylinder", diameter_mm=60, frame_mm=0, ring_mm=0)
    mesh = out.mesh
    result = check(mesh)
    assert result.ok and result.bodies == 1 and result.euler_number == 0  # genus 1: a tube
    assert mesh.extents[0] == pytest.approx(60.0, abs=0.02) and mesh.extents[1] == pytest.approx(
        60.0, abs=0.02
    )
    # Round: the outside is the 30 mm circle all the way round; nothing reaches past it.
    centre = (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2
    radii = np.linalg.norm(mesh.vertices[:, :2] - centre, axis=1)
    assert radii.max() <= 30.0 + 1e-3 and np.percentile(radii, 99) > 30.0 - 1e-3
    # Open through the axis: a cut across it is a ring, the hole the inside of the shade.
    cut = [np.asarray(p) for p in manifold_of(mesh).slice(mesh.extents[2] / 3).to_polygons()]
    assert len(cut) == 2
    hole = min(cut, key=signed_area)
    assert signed_area(hole) < 0 and abs(signed_area(hole)) > np.pi * (30.0 - 3.0) ** 2
    assert np.all(np.linalg.norm(hole - centre, axis=1) < 30.0 - 0.8 + 1e-3)
    # The height follows from the picture going once around: 3:1 → π · 60 / 3 (less a pixel).
    assert mesh.extents[2] == pytest.approx(np.pi * 60 / 3, rel=0.02)
    mesh.export(tmp_path / "shade.stl")
    assert not slicer_problems([tmp_path / "shade.stl"])


@pytest.mark.unit
def test_the_wall_follows_the_picture_and_is_never_thinner_than_the_minimum() -> None:
    picture = _ramp()
    out, p = _run(picture, shape="cylinder", diameter_mm=60, frame_mm=0, ring_mm=0)
    mesh = out.mesh
    height = mesh.extents[2]
    angles = np.linspace(0.02, 2 * np.pi - 0.02, 90)
    heights = np.linspace(0.5, height - 0.5, 15)
    measured = _through_wall(mesh, _centre(mesh), angles, heights)
    assert np.isfinite(measured).all()
    assert measured.min() >= p.min_thickness_mm - 1e-3
    assert measured.max() <= p.max_thickness_mm + 0.05
    # What was meant, cell by cell: the angle is the column (the picture once around), the height
    # the row from the top.
    meant, _ = thickness_image(picture, p)
    rows, cols = meant.shape
    pixel = np.pi * 60 / cols
    c = np.clip(np.round(angles * 30.0 / pixel).astype(int), 0, cols - 1)
    r = np.clip(np.round((height - heights) / pixel).astype(int), 0, rows - 1)
    expected = meant[np.ix_(r, c)]
    assert np.abs(measured - expected).max() < 0.12
    # Dark on the left is thick, light on the right thin; the light band across is thin.
    assert measured[:, :5].mean() > 2.7 and measured[:, -5:].mean() < 1.0


@pytest.mark.unit
def test_the_bottom_ring_and_the_frame() -> None:
    out, _ = _run(_ramp(), shape="cylinder", diameter_mm=60, frame_mm=3, ring_mm=4)
    mesh = out.mesh
    assert check(mesh).bodies == 1 and check(mesh).euler_number == 0
    centre = (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2

    def inner_radius(z: float) -> float:
        cut = [np.asarray(q) for q in manifold_of(mesh).slice(z).to_polygons()]
        hole = min(cut, key=signed_area)
        return float(np.linalg.norm(hole - centre, axis=1).mean())

    assert inner_radius(2.0) == pytest.approx(30.0 - 3.0 - 3.0, abs=0.05)  # the ring reaches in
    assert inner_radius(mesh.extents[2] - 1.5) == pytest.approx(30.0 - 3.0, abs=0.05)  # the frame
    assert inner_radius(mesh.extents[2] / 2) > 30.0 - 3.0 + 0.3  # the picture: thinner
    assert out.notes["ring_mm"] == 4


@pytest.mark.unit
def test_a_curved_panel_is_an_arc_of_the_angle_asked(tmp_path) -> None:
    out, p = _run(_ramp(), shape="curved", arc_deg=120, size_mm=90)
    mesh = out.mesh
    result = check(mesh)
    assert result.ok and result.bodies == 1 and result.euler_number == 2
    radius = out.notes["radius_mm"]
    assert radius == pytest.approx(90 / np.radians(120), rel=0.01)
    # The axis: where the outside's circle is centred (in front of the panel's concave side).
    axis = _axis(mesh, radius)
    away = mesh.vertices[:, :2] - axis
    outside = away[np.abs(np.linalg.norm(away, axis=1) - radius) < 1e-3]
    angles = np.degrees(np.arctan2(outside[:, 0], -outside[:, 1]))
    assert np.ptp(angles) == pytest.approx(120, abs=0.5)
    heights = np.linspace(1.0, mesh.extents[2] - 1.0, 9)
    measured = _through_wall(mesh, axis, np.radians(np.linspace(-55, 55, 23)), heights)
    assert np.isfinite(measured).all()
    assert measured.min() >= p.min_thickness_mm - 1e-3
    # Seen from the front it is what was meant (the outline and the smooth outside).
    fidelity = measure(mesh.vertices, mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert fidelity.silhouette_iou > 0.99 and fidelity.max_deviation_mm < 0.1
    mesh.export(tmp_path / "arc.stl")
    assert not slicer_problems([tmp_path / "arc.stl"])


def _axis(mesh: trimesh.Trimesh, radius: float) -> np.ndarray:
    """The arc's axis: the panel is centred in x and its outside reaches lowest in y at the middle."""
    return np.array([(mesh.bounds[0, 0] + mesh.bounds[1, 0]) / 2, mesh.bounds[0, 1] + radius])


@pytest.mark.unit
def test_the_flat_panel_is_as_it_was_and_a_too_tight_bend_is_refused() -> None:
    flat, _ = _run(_ramp(), size_mm=60)
    assert check(flat.mesh).euler_number == 2 and flat.mesh.extents[0] == pytest.approx(60, abs=0.01)
    assert flat.mesh.extents[2] == pytest.approx(3.0)
    with pytest.raises(InputRejected) as refused:
        _run(_ramp(), shape="curved", arc_deg=350, size_mm=20, max_thickness_mm=4)
    assert refused.value.field == "arc_deg"
    with pytest.raises(InputRejected) as refused:
        _run(_ramp(), shape="cylinder", diameter_mm=20, max_thickness_mm=9)
    assert refused.value.field == "diameter_mm"


@pytest.mark.integration
def test_every_shape_through_the_pipeline_reloads_and_validates(tmp_path) -> None:
    paths = []
    for shape in ("flat", "curved", "cylinder"):
        model = orfeas.generate(
            png_bytes(_ramp()), params={"mode": "lithophane", "shape": shape, "diameter_mm": 50}
        )
        assert model.report["bodies"] == 1 and model.report["fidelity"]["within_bound"], shape
        assert model.report["euler_number"] == (0 if shape == "cylinder" else 2), shape
        model.save(tmp_path / f"{shape}.glb")
        model.save(tmp_path / f"{shape}.stl")
        paths.append(tmp_path / f"{shape}.glb")
    assert not slicer_problems([p.with_suffix(".stl") for p in paths])
    assert all(r["numErrors"] == 0 for r in gltf_validation(paths))
