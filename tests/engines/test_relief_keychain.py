"""``keychain``: the design on a backing that follows its outline, a loop with a real hole (≥ 4 mm,
≥ 2 mm of material around it) where it joins the outline solidly, one piece at the size asked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import orfeas
from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, validate_parameters
from orfeas.engines.relief.keychain import keychain_layout
from orfeas.errors import InputRejected
from orfeas.imaging.mask import subject_mask
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import disc_rgba, holes_seen_from_above, manifold_of, png_bytes, signed_area


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    checked = validate_parameters(engine, {"mode": "keychain", **params})
    return engine.generate(EngineInput(rgba=rgba), checked, Settings())


def _wide(width: int = 400, height: int = 120) -> np.ndarray:
    """A wide rounded bar (a name tag), on transparency."""
    image = np.zeros((height, width, 4), np.uint8)
    cv2.rectangle(image, (20, 20), (width - 20, height - 20), (30, 90, 200, 255), -1)
    return image


def _loop_hole(mesh, centre: list[float]) -> np.ndarray:
    """The hole seen from above at the loop's centre (given from the model's lower left corner)."""
    at = mesh.bounds[0, :2] + centre
    holes = [h for h in holes_seen_from_above(mesh) if np.linalg.norm(h.mean(axis=0) - at) < 1.0]
    assert len(holes) == 1, "no hole at the loop's centre"
    return holes[0]


@pytest.mark.unit
def test_a_disc_gets_a_ring_at_the_top_with_a_real_hole() -> None:
    out = _run(disc_rgba(300), hole_mm=5, loop_wall_mm=2.5)
    mesh, loop = out.mesh, out.notes["loop"]
    result = check(mesh)
    assert result.ok and result.bodies == 1
    assert result.euler_number == 0  # genus 1: the disc has no hole of its own, the loop has one
    assert loop["kind"] == "ring" and loop["angle_deg"] == 0
    # The hole goes right through: its outline seen from above is a 5 mm circle at the loop's centre.
    hole = _loop_hole(mesh, loop["centre_mm"])
    radii = np.linalg.norm(hole - (mesh.bounds[0, :2] + loop["centre_mm"]), axis=1)
    assert radii.min() >= 2.5 - 0.01 and radii.max() <= 2.5 + 0.01
    # It hangs from the top: its centre is above the disc's.
    disc_top = mesh.bounds[1, 1] - 2 * 4.99
    assert loop["centre_mm"][1] > disc_top - 1.0
    # Material all around the hole: at least the wall, measured on a cut through the backing.
    cut = manifold_of(mesh).slice(1.0)
    outer = max((np.asarray(p) for p in cut.to_polygons()), key=signed_area)
    gap = np.min(np.linalg.norm(outer[:, None, :] - hole[None, :, :], axis=2))
    assert gap >= 2.5 - 0.05
    # The longest side is the size asked, loop included.
    assert max(mesh.extents[:2]) == pytest.approx(50.0, abs=0.02)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"loop_position": "top"}, (0, 1)),
        ({"loop_position": "left"}, (-1, 0)),
        ({"loop_position": "right"}, (1, 0)),
        ({"loop_angle_deg": 45}, (0.7071, 0.7071)),
    ],
)
def test_the_loop_goes_where_asked(where: dict, expected: tuple[float, float]) -> None:
    out = _run(disc_rgba(300), **where)
    centre = (out.mesh.bounds[0, :2] + out.mesh.bounds[1, :2]) / 2
    loop = out.mesh.bounds[0, :2] + out.notes["loop"]["centre_mm"]
    direction = loop - _disc_centre(out)
    direction /= np.linalg.norm(direction)
    assert direction @ np.asarray(expected) > 0.98, (direction, centre)
    assert check(out.mesh).bodies == 1 and check(out.mesh).euler_number == 0


def _disc_centre(out) -> np.ndarray:
    """The centre of the raised disc (the design), seen from above."""
    top = out.mesh.vertices[np.isclose(out.mesh.vertices[:, 2], out.mesh.bounds[1, 2])]
    return (top[:, :2].min(axis=0) + top[:, :2].max(axis=0)) / 2


@pytest.mark.unit
def test_auto_puts_the_loop_on_a_short_side_of_a_wide_tag() -> None:
    out = _run(_wide(), size_mm=60)
    assert out.notes["loop"]["angle_deg"] == 0  # on top: the tag keeps its length
    assert out.mesh.extents[0] == pytest.approx(60.0, abs=0.02)
    tall = _run(np.ascontiguousarray(np.rot90(_wide())), size_mm=60)
    assert tall.notes["loop"]["angle_deg"] == 0  # the top still wins over growing less at a side
    assert tall.mesh.extents[1] == pytest.approx(60.0, abs=0.02)


@pytest.mark.unit
def test_a_hole_goes_through_a_wide_body_without_growing_it() -> None:
    ring = _run(disc_rgba(300), loop="ring")
    hole = _run(disc_rgba(300), loop="hole")
    assert hole.notes["loop"]["kind"] == "hole" and check(hole.mesh).euler_number == 0
    # No tab: the outline is the disc's (with its backing), so the disc itself is larger.
    assert hole.mesh.extents[0] == pytest.approx(hole.mesh.extents[1], abs=0.05)
    assert ring.mesh.extents[0] < ring.mesh.extents[1] - 3
    _loop_hole(hole.mesh, hole.notes["loop"]["centre_mm"])
    # Around the hole the design is flattened to the backing: nothing raised within the wall.
    centre = hole.mesh.bounds[0, :2] + hole.notes["loop"]["centre_mm"]
    top = hole.mesh.vertices[hole.mesh.vertices[:, 2] > 3.0 + 1e-6]
    assert np.min(np.linalg.norm(top[:, :2] - centre, axis=1)) >= 5.0 - 0.01


@pytest.mark.unit
def test_a_hole_where_nothing_is_wide_enough_becomes_a_ring() -> None:
    line = np.zeros((60, 400, 4), np.uint8)
    cv2.rectangle(line, (10, 25), (390, 35), (0, 0, 0, 255), -1)
    out = _run(line, loop="hole", base_mm=0, size_mm=60)
    assert out.notes["loop"]["kind"] == "ring"
    assert "ring loop was added instead" in out.notes["warnings"][0]
    assert check(out.mesh).bodies == 1 and check(out.mesh).euler_number == 0


@pytest.mark.unit
def test_without_a_backing_the_design_carries_the_loop_and_parts_are_bridged() -> None:
    image = np.zeros((200, 400, 4), np.uint8)
    cv2.circle(image, (100, 100), 70, (200, 40, 40, 255), -1)
    cv2.circle(image, (300, 100), 70, (40, 40, 200, 255), -1)
    out = _run(image, base_mm=0, depth_mm=3)
    result = check(out.mesh)
    assert result.ok and result.bodies == 1 and result.euler_number == 0
    assert set(np.round(out.mesh.vertices[:, 2], 6)) == {0.0, 3.0}
    assert out.notes["joined_by"] == "1 bridge"


@pytest.mark.unit
def test_the_intent_is_the_outline_plus_the_loop_and_catches_a_missing_loop() -> None:
    out = _run(disc_rgba(300))
    bound = deviation_bound_mm(out.intent)
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, bound)
    assert fidelity.silhouette_iou > 0.995 and fidelity.within_bound and fidelity.stray_share == 0.0
    assert out.intent.mask.sum() > 0 and out.intent.plate_mm is None
    # The same mesh without its loop is not what was meant.
    centre = out.mesh.bounds[0, :2] + out.notes["loop"]["centre_mm"]
    far = np.linalg.norm(out.mesh.vertices[:, :2] - centre, axis=1)[out.mesh.faces].min(axis=1) > 6
    cut = measure(out.mesh.vertices, out.mesh.faces[far], out.intent, bound)
    assert not cut.within_bound and cut.silhouette_iou < fidelity.silhouette_iou - 0.02


@pytest.mark.unit
def test_the_layout_gives_the_backing_and_the_design_apart() -> None:
    rgba = disc_rgba(300)
    p = validate_parameters(get_engine("relief"), {"mode": "keychain"})
    layout = keychain_layout(rgba, subject_mask(rgba, "alpha", Settings()), p)
    assert layout.base is not None and layout.base_mm == 3.0 and layout.top_mm == 4.5
    assert (layout.design - layout.base).area() < 1e-6  # the design stands on the backing
    assert layout.base.area() > layout.design.area() + layout.loop.disc().area() / 2
    assert (layout.loop.hole() - layout.base).area() == pytest.approx(layout.loop.hole().area(), rel=1e-6)


@pytest.mark.unit
def test_the_mode_has_keychain_sizes_unless_told_otherwise() -> None:
    model = orfeas.generate(png_bytes(disc_rgba(200)), params={"mode": "keychain"})
    assert model.report["parameters"]["size_mm"] == 50.0 and model.report["parameters"]["depth_mm"] == 1.5
    assert model.report["bbox_mm"][2] == pytest.approx(4.5)
    told = orfeas.generate(
        png_bytes(disc_rgba(200)), params={"mode": "keychain", "depth_mm": 2, "size_mm": 40}
    )
    assert told.report["bbox_mm"][2] == pytest.approx(5.0) and max(
        told.report["bbox_mm"][:2]
    ) == pytest.approx(40, abs=0.05)
    assert model.report["bodies"] == 1 and model.report["fidelity"]["within_bound"]


@pytest.mark.unit
def test_a_keychain_too_small_for_its_loop_is_refused() -> None:
    with pytest.raises(InputRejected) as refused:
        orfeas.generate(png_bytes(disc_rgba(200)), params={"mode": "keychain", "size_mm": 12, "hole_mm": 8})
    assert refused.value.field in ("size_mm", "margin_mm")
