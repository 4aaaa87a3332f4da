"""``extrude``: vertical walls, exactly flat top and bottom, an optional chamfer or fillet, a base
plate with its margin and rounded corners; separate parts joined or kept apart on request."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, validate_parameters
from orfeas.engines.relief.extrude import extruded
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.outline import cross_section
from orfeas.mesh.raster import PixelGrid, height_map
from orfeas.mesh.verify import check
from orfeas.settings import Settings


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    return engine.generate(
        EngineInput(rgba=rgba), validate_parameters(engine, {"mode": "extrude", **params}), Settings()
    )


def _shapes(size: int = 300) -> np.ndarray:
    """A square with a round hole, and a separate triangle: sharp corners, a hole, two parts."""
    image = np.zeros((size, size, 4), np.uint8)
    cv2.rectangle(image, (30, 30), (170, 170), (200, 40, 40, 255), -1)
    cv2.circle(image, (100, 100), 35, (0, 0, 0, 0), -1, lineType=cv2.LINE_AA)
    cv2.fillPoly(
        image, [np.array([[200, 260], [280, 260], [240, 190]])], (40, 40, 200, 255), lineType=cv2.LINE_AA
    )
    return image


@pytest.mark.unit
def test_flat_top_flat_bottom_vertical_walls_on_a_rounded_plate() -> None:
    out = _run(_shapes(), size_mm=60, depth_mm=3, base_mm=1.5, margin_mm=4, corner_mm=5)
    mesh = out.mesh
    assert check(mesh).ok and check(mesh).bodies == 1
    assert set(np.round(mesh.vertices[:, 2], 6)) == {0.0, 1.5, 4.5}
    normals = mesh.face_normals
    assert np.all((np.abs(normals[:, 2]) > 1 - 1e-9) | (np.abs(normals[:, 2]) < 1e-9))  # flat or vertical
    assert max(mesh.extents[:2]) == pytest.approx(60, rel=1e-6) and len(mesh.faces) < 3_000
    # The plate reaches the margin around the subject; its corners are rounded.
    top_of_plate = mesh.vertices[np.isclose(mesh.vertices[:, 2], 1.5)]
    subject = mesh.vertices[np.isclose(mesh.vertices[:, 2], 4.5)]
    assert subject[:, 0].min() - mesh.bounds[0, 0] == pytest.approx(4.0, abs=0.05)
    assert not np.any(np.all(np.isclose(top_of_plate[:, :2], mesh.bounds[0, :2]), axis=1))  # no square corner
    assert out.notes["parts"] == 2 and out.notes["joined_by"] == "the plate"


@pytest.mark.unit
def test_the_outline_keeps_sharp_corners_and_the_hole() -> None:
    out = _run(_shapes(), size_mm=60, base_mm=0, separate_parts=True)
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert (
        fidelity.silhouette_iou > 0.995 and fidelity.max_deviation_mm == 0.0 and fidelity.stray_share == 0.0
    )
    top = out.mesh.vertices[np.isclose(out.mesh.vertices[:, 2], out.mesh.bounds[1, 2])]
    # The square's top-left corner is a vertex of the outline, not a rounded arc.
    corner = top[np.argmin(top[:, 0] - top[:, 1])]
    assert np.linalg.norm(corner[:2] - [out.mesh.bounds[0, 0], out.mesh.bounds[1, 1]]) < 0.15
    assert check(out.mesh).bodies == 2  # kept apart, as asked


@pytest.mark.unit
def test_without_a_plate_separate_parts_are_bridged() -> None:
    out = _run(_shapes(), size_mm=60, base_mm=0)
    assert check(out.mesh).ok and check(out.mesh).bodies == 1
    assert out.notes["joined_by"] == "1 bridge"
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert fidelity.silhouette_iou > 0.99  # the intent includes the bridge


@pytest.mark.unit
@pytest.mark.parametrize("edge", ["chamfer", "fillet"])
def test_a_chamfer_or_fillet_rounds_only_the_top_edge(edge: str) -> None:
    out = _run(
        _shapes(), size_mm=60, depth_mm=3, base_mm=0, top_edge=edge, top_edge_mm=0.8, separate_parts=True
    )
    mesh = out.mesh
    assert check(mesh).ok and out.notes["top_edge_mm"] == pytest.approx(0.8)
    z = mesh.vertices[:, 2]
    assert z.max() == pytest.approx(3.0) and z.min() == pytest.approx(0.0)
    # The flat top is inset by the edge: the rim of the top face is 0.8 mm inside the outline.
    seen = height_map(mesh.vertices, mesh.faces, PixelGrid.around(mesh.bounds[0], mesh.bounds[1], 0.1))
    flat = np.isclose(seen.height, 3.0)
    lowered = seen.covered & ~flat
    assert lowered.sum() * 0.01 == pytest.approx(0.8 * 260, rel=0.2)  # the edge band: outline length × 0.8 mm
    fidelity = measure(mesh.vertices, mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert fidelity.within_bound and fidelity.stray_share < 0.01


@pytest.mark.unit
def test_an_edge_wider_than_a_stroke_rises_to_a_ridge() -> None:
    line = np.zeros((100, 300, 4), np.uint8)
    cv2.rectangle(line, (10, 45), (290, 55), (0, 0, 0, 255), -1)  # 11 px of 280 → about 2.4 mm at 60 mm
    out = _run(line, size_mm=60, depth_mm=3, base_mm=0, top_edge="chamfer", top_edge_mm=2)
    assert check(out.mesh).ok and out.notes["top_edge_mm"] == 2
    ridge = out.mesh.bounds[1, 2]
    assert ridge == pytest.approx(3 - 2 + 1.18, abs=0.3)  # 45° from both sides meet at the middle
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert fidelity.within_bound


@pytest.mark.unit
def test_extruded_is_the_reusable_outline_step() -> None:
    square = cross_section([np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])])
    solid, edge = extruded(square, 1.0, 4.0)
    assert edge == 0.0 and solid.volume() == pytest.approx(300.0)
    chamfered, edge = extruded(square, 1.0, 4.0, edge="chamfer", edge_mm=1.0)
    # 45° chamfer on a 10 mm square: the top loses a wedge of 4 · 10 · ½ mm² less the corners.
    assert edge == 1.0 and chamfered.volume() == pytest.approx(300.0 - (4 * 10 * 0.5 - 4 / 3), rel=1e-3)
