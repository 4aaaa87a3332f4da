"""``cutter``: a blade wall along the outer outline (its inner face on the cutting line, tapering to
an edge at the top) on a wider flange — an outline seen from above, not a filled shape, one piece;
outlines too detailed to cut are simplified and the report says so."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, validate_parameters
from orfeas.errors import InputRejected
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import disc_rgba, holes_seen_from_above, manifold_of, signed_area, slicer_problems


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    checked = validate_parameters(engine, {"mode": "cutter", **params})
    return engine.generate(EngineInput(rgba=rgba), checked, Settings())


def _wall_width(mesh, z: float) -> float:
    """The wall's mean width in a cut at height ``z``: its area over the mean of its outer and inner
    lengths (exact for concentric circles)."""
    cut = manifold_of(mesh).slice(z)
    loops = [np.asarray(p) for p in cut.to_polygons()]
    length = sum(float(np.sum(np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1))) for c in loops)
    return cut.area() / (length / 2)


def _centroid(loop: np.ndarray) -> np.ndarray:
    x, y = loop[:, 0], loop[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    return np.array([np.sum((x + np.roll(x, -1)) * cross), np.sum((y + np.roll(y, -1)) * cross)]) / (
        6 * signed_area(loop)
    )


@pytest.mark.unit
def test_a_disc_cutter_is_a_ring_wall_on_a_flange_empty_inside(tmp_path) -> None:
    out = _run(disc_rgba(300), size_mm=60)
    mesh = out.mesh
    result = check(mesh)
    assert result.ok and result.bodies == 1 and result.euler_number == 0  # one ring: genus 1
    # Seen from above it is an outline: one hole, the cookie, where the picture's disc is.
    holes = holes_seen_from_above(mesh)
    assert len(holes) == 1
    cookie = abs(signed_area(holes[0]))
    assert cookie == pytest.approx(np.pi * 30.0**2, rel=0.01)
    centre = (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2
    assert np.linalg.norm(_centroid(holes[0]) - centre) < 0.1
    footprint = manifold_of(mesh).project().area()
    assert footprint < 0.4 * cookie  # the material is a band around the cookie, not a filled shape
    assert manifold_of(mesh).slice(6.0).area() < 0.1 * cookie  # the blade itself: a thin wall
    # The blade: 1 mm at mid-height, thinner toward the cutting edge at the top; the flange wider.
    assert _wall_width(mesh, 6.0) == pytest.approx(1.0, abs=0.05)
    assert _wall_width(mesh, 11.9) < 0.65
    assert _wall_width(mesh, 1.0) == pytest.approx(5.0, abs=0.1)
    assert mesh.bounds[1, 2] == pytest.approx(12.0)
    assert max(mesh.extents[:2]) == pytest.approx(60 + 2 * 5.0, abs=0.1)
    # What was meant holds, and a cutter missing a stretch of its wall is caught.
    bound = deviation_bound_mm(out.intent)
    fidelity = measure(mesh.vertices, mesh.faces, out.intent, bound)
    assert fidelity.silhouette_iou > 0.99 and fidelity.within_bound and fidelity.stray_share == 0
    high = mesh.vertices[mesh.faces].mean(axis=1)
    keep = ~((high[:, 2] > 3.0) & (high[:, 0] > centre[0] + 20))
    broken = measure(mesh.vertices, mesh.faces[keep], out.intent, bound)
    assert not broken.within_bound
    # PrusaSlicer takes it as it is.
    mesh.export(tmp_path / "cutter.stl")
    assert not slicer_problems([tmp_path / "cutter.stl"])


@pytest.mark.unit
def test_the_blade_thickness_and_height_are_parameters() -> None:
    out = _run(disc_rgba(300), size_mm=50, blade_mm=0.8, blade_height_mm=20, flange_mm=6, base_mm=3)
    assert out.mesh.bounds[1, 2] == pytest.approx(20.0)
    assert _wall_width(out.mesh, 10.0) == pytest.approx(0.8, abs=0.05)
    assert _wall_width(out.mesh, 2.0) == pytest.approx(6.8, abs=0.1)
    assert check(out.mesh).bodies == 1


@pytest.mark.unit
def test_details_too_fine_to_cut_are_simplified_and_reported() -> None:
    image = np.zeros((400, 400, 4), np.uint8)
    cv2.circle(image, (200, 220), 150, (200, 60, 40, 255), -1)
    cv2.rectangle(image, (197, 10), (203, 80), (200, 60, 40, 255), -1)  # a thin stalk: 0.9 mm at 60 mm
    cv2.rectangle(image, (40, 215), (200, 220), (0, 0, 0, 0), -1)  # a slit into the disc
    out = _run(image, size_mm=60)
    notes = out.notes
    assert "simplified" in notes and "too detailed to cut" in notes["warnings"][0]
    # The stalk is gone (the cutter is no taller than the disc plus its flange), the slit closed.
    holes = holes_seen_from_above(out.mesh)
    assert len(holes) == 1 and check(out.mesh).bodies == 1
    width, height = np.ptp(holes[0], axis=0)
    assert height - width < 1.5 and max(width, height) == pytest.approx(60.0, abs=0.05)
    assert abs(signed_area(holes[0])) == pytest.approx(np.pi * (width / 2) ** 2, rel=0.01)
    # A plain disc has nothing to simplify.
    assert "simplified" not in _run(disc_rgba(300), size_mm=60).notes


@pytest.mark.unit
def test_separate_parts_are_joined_and_holes_not_cut() -> None:
    image = np.zeros((200, 400, 4), np.uint8)
    cv2.circle(image, (100, 100), 80, (200, 40, 40, 255), -1)
    cv2.circle(image, (300, 100), 80, (40, 40, 200, 255), -1)
    cv2.circle(image, (100, 100), 30, (0, 0, 0, 0), -1)  # a hole: not cut
    out = _run(image, size_mm=80)
    assert check(out.mesh).bodies == 1 and check(out.mesh).euler_number == 0
    assert out.notes["inner_lines"].startswith("not cut") and out.notes["parts"] == 2
    assert len(holes_seen_from_above(out.mesh)) == 1


@pytest.mark.unit
def test_a_cutter_too_low_for_its_flange_is_refused() -> None:
    with pytest.raises(InputRejected) as refused:
        _run(disc_rgba(200), blade_height_mm=6, base_mm=4)
    assert refused.value.field == "blade_height_mm"


def _disc_with_an_l(size: int = 400) -> np.ndarray:
    """A disc with an L cut into it: the L is an inner line (mirrored, it is a J-like other shape)."""
    image = disc_rgba(size)
    cv2.rectangle(image, (150, 120), (175, 280), (0, 0, 0, 0), -1)
    cv2.rectangle(image, (150, 255), (260, 280), (0, 0, 0, 0), -1)
    return image


@pytest.mark.unit
def test_the_imprint_stamp_fits_inside_the_cutter_and_carries_the_inner_lines_mirrored(tmp_path) -> None:
    picture = _disc_with_an_l()
    cutter = _run(picture, size_mm=60)
    stamp = _run(picture, size_mm=60, cutter_part="imprint")
    mesh = stamp.mesh
    result = check(mesh)
    assert result.ok and result.bodies == 1
    assert stamp.notes["part"] == "imprint" and stamp.notes["mirrored"] is True
    # It slides into the cutter: its widest outline is the cookie's, 0.6 mm smaller all round.
    cookie = holes_seen_from_above(cutter.mesh)[0]
    assert np.ptp(cookie[:, 0]) - mesh.extents[0] == pytest.approx(1.2, abs=0.05)
    assert np.ptp(cookie[:, 1]) - mesh.extents[1] == pytest.approx(1.2, abs=0.05)
    # The raised face is the disc less the L, mirrored: seen from above, the L's foot points left.
    top = mesh.bounds[1, 2]
    cut = manifold_of(mesh).slice(top - 0.5)
    letter = (26 * 161 + 111 * 26) * (60 / 320) ** 2  # the L's area, in mm² at 60 mm
    assert cut.area() == pytest.approx(
        np.pi * (30 - 0.6 - 1.5) ** 2 - letter, rel=0.02
    )  # the L is not raised
    foot = [np.asarray(h) for h in cut.to_polygons() if signed_area(np.asarray(h)) < 0]
    assert len(foot) == 1  # the L is a hole in the raised face
    centre = (mesh.bounds[0, :2] + mesh.bounds[1, :2]) / 2
    # In the picture the L's foot runs right from its stem (x 150 → 260 of 400): mirrored, left.
    stem_x = foot[0][:, 0].max()
    assert foot[0][:, 0].min() < stem_x - 8 and stem_x > centre[0]
    bound = deviation_bound_mm(stamp.intent)
    fidelity = measure(mesh.vertices, mesh.faces, stamp.intent, bound)
    assert fidelity.silhouette_iou > 0.99 and fidelity.within_bound
    mesh.export(tmp_path / "imprint.stl")
    assert not slicer_problems([tmp_path / "imprint.stl"])


@pytest.mark.unit
def test_an_imprint_of_a_shape_without_inner_lines_is_refused() -> None:
    with pytest.raises(InputRejected) as refused:
        _run(disc_rgba(300), size_mm=60, cutter_part="imprint")
    assert refused.value.field == "cutter_part" and "no inner lines" in refused.value.message
