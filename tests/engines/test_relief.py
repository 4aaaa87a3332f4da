"""The relief engine: every mode gives a closed solid of the asked size; the maths is right."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from orfeas.engines import all_engines, get_engine
from orfeas.engines.base import EngineInput, parameters_schema, validate_parameters
from orfeas.engines.relief import ReliefParameters
from orfeas.engines.relief.puffy import solve_inflation
from orfeas.errors import InputRejected
from orfeas.imaging.saliency import saliency_network
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.raster import height_map
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import disc_rgba, drawing_on_white, photo_like, require

MODES = ("puffy", "relief", "extrude", "lithophane", "heightmap")


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    return engine.generate(
        EngineInput(rgba=rgba), validate_parameters(engine, {"target_faces": 4000, **params}), Settings()
    )


@pytest.mark.unit
def test_inflation_of_a_disc_is_a_hemisphere() -> None:
    size = 121
    y, x = np.mgrid[0:size, 0:size] - 60
    mask = x**2 + y**2 < 55**2
    height = np.sqrt(solve_inflation(mask))
    r2 = (x**2 + y**2)[mask]
    expected = np.sqrt(np.maximum(55**2 - r2, 0))
    assert height[60, 60] == pytest.approx(55, rel=0.03)
    assert np.median(np.abs(height[mask] - expected)) < 1.5


@pytest.mark.unit
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_is_closed_and_sized(mode: str) -> None:
    out = _run(disc_rgba(128), mode=mode, size_mm=50)
    result = check(out.mesh)
    assert result.ok, result.problems()
    assert max(out.mesh.extents[:2]) == pytest.approx(50, rel=1e-6)
    assert out.units == "mm" and out.notes["mode"] == mode
    assert out.mesh.visual.vertex_colors.shape == (len(out.mesh.vertices), 4)


@pytest.mark.unit
def test_puffy_disc_volume_matches_hemispheres() -> None:
    out = _run(
        disc_rgba(200), mode="puffy", size_mm=40, back_ratio=1.0, detail_mm=0, rim_mm=0.2, target_faces=20000
    )
    radius = 20.0
    sphere = 4 / 3 * np.pi * radius**3
    assert out.mesh.volume == pytest.approx(sphere, rel=0.06)
    assert out.mesh.extents[2] == pytest.approx(2 * radius, rel=0.06)


@pytest.mark.unit
def test_lithophane_thickness_spans_min_to_max() -> None:
    ramp = np.dstack(
        [np.tile(np.linspace(0, 255, 200).astype(np.uint8), (100, 1))] * 3
        + [np.full((100, 200), 255, np.uint8)]
    )
    out = _run(ramp, mode="lithophane", min_thickness_mm=0.6, max_thickness_mm=2.5, frame_mm=0)
    z = out.mesh.vertices[:, 2]
    assert z.min() == pytest.approx(0) and z.max() == pytest.approx(2.5, abs=0.01)
    top = out.mesh.vertices[z > 0.01]
    assert top[:, 2].min() == pytest.approx(0.6, abs=0.05)
    # Dark (left) is thick, light (right) is thin.
    left = top[top[:, 0] < 5][:, 2].mean()
    right = top[top[:, 0] > out.mesh.extents[0] - 5][:, 2].mean()
    assert left > right + 1.0


@pytest.mark.unit
def test_relief_plate_has_base_thickness_and_raised_subject() -> None:
    out = _run(disc_rgba(160), mode="relief", base_mm=1.5, depth_mm=3.0, detail_mm=0)
    z = out.mesh.vertices[:, 2]
    assert z.max() == pytest.approx(4.5, abs=0.05)
    corner = out.mesh.vertices[(out.mesh.vertices[:, 0] < 1) & (out.mesh.vertices[:, 1] < 1) & (z > 0.1)]
    assert corner[:, 2] == pytest.approx(1.5, abs=0.02)


@pytest.mark.unit
@pytest.mark.parametrize("picture", [drawing_on_white(160), photo_like(160)], ids=["drawing", "photo"])
def test_pictures_without_alpha_are_cut_out_and_report_confidence(picture: np.ndarray) -> None:
    rgba = np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)])
    out = _run(rgba, mode="puffy")
    assert check(out.mesh).ok
    assert out.notes["mask_method"] in ("neural", "grabcut", "whole")
    assert 0.0 <= out.notes["mask_confidence"] <= 1.0 and out.notes["mask_seconds"] >= 0.0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"mode": "sculpture"}, "mode"),
        ({"size_mm": 0}, "size_mm"),
        ({"target_faces": 10}, "target_faces"),
        ({"min_thickness_mm": 3, "max_thickness_mm": 2}, "max_thickness_mm"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_parameters_name_the_field(params: dict, field: str | None) -> None:
    with pytest.raises(InputRejected) as caught:
        validate_parameters(get_engine("relief"), params)
    assert caught.value.code == "invalid_parameter"
    if field:
        assert caught.value.field == field and field in caught.value.message


@pytest.mark.unit
def test_schema_lists_modes_units_and_ranges() -> None:
    schema = parameters_schema(get_engine("relief"))
    props = schema["properties"]
    # keychain: tests/engines/test_relief_keychain.py; revolve: tests/engines/test_revolve.py
    assert props["mode"]["enum"] == [*MODES[:3], "keychain", *MODES[3:], "revolve"]
    assert props["size_mm"]["unit"] == "mm" and props["size_mm"]["minimum"] == 5
    assert props["inflation"]["modes"] == ["puffy"]
    assert "relief" in [e.name for e in all_engines()]
    with pytest.raises(InputRejected) as caught:
        get_engine("nope")
    assert caught.value.code == "unknown_engine"
    assert ReliefParameters().target_faces == 50_000


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _two_parts(size: int = 200) -> np.ndarray:
    image = np.zeros((size, size, 4), np.uint8)
    cv2.circle(image, (60, 100), 40, (200, 40, 40, 255), -1)
    cv2.circle(image, (150, 100), 30, (40, 40, 200, 255), -1)
    return image


@pytest.mark.unit
@pytest.mark.parametrize(
    ("mode", "extra"), [("puffy", {}), ("relief", {"base_mm": 0}), ("extrude", {"base_mm": 0})]
)
def test_separate_parts_become_one_piece_unless_asked(mode: str, extra: dict) -> None:
    joined = _run(_two_parts(), mode=mode, **extra)
    assert check(joined.mesh).bodies == 1 and joined.notes["parts"] == 2
    assert joined.notes["joined_by"] == "1 bridge"
    apart = _run(_two_parts(), mode=mode, separate_parts=True, **extra)
    assert check(apart.mesh).bodies == 2 and "joined_by" not in apart.notes


@pytest.mark.unit
def test_the_relief_plate_is_exactly_flat_outside_the_subject() -> None:
    out = _run(_two_parts(), mode="relief", base_mm=1.5, depth_mm=3.0, target_faces=20_000)
    intent = out.intent
    seen = height_map(out.mesh.vertices, out.mesh.faces, intent.grid)
    plate = np.isfinite(intent.height) & ~ndimage.binary_dilation(intent.mask, iterations=2)
    assert np.all(seen.height[plate] == 1.5)  # not near 1.5: exactly, with no vertex of its own
    fidelity = measure(out.mesh.vertices, out.mesh.faces, intent, deviation_bound_mm(intent))
    assert fidelity.silhouette_iou > 0.98 and fidelity.stray_share == 0.0 and fidelity.within_bound


@pytest.mark.unit
def test_walls_take_the_colour_of_the_outline() -> None:
    # A red disc with a thick black outline: every wall vertex must be black, none smeared red.
    image = np.zeros((200, 200, 4), np.uint8)
    cv2.circle(image, (100, 100), 80, (10, 10, 10, 255), -1)
    cv2.circle(image, (100, 100), 66, (220, 30, 30, 255), -1)
    out = _run(image, mode="puffy", back="flat")
    mesh = out.mesh
    walls = np.abs(mesh.face_normals[:, 2]) < 1e-6
    colours = mesh.visual.vertex_colors[np.unique(mesh.faces[walls])][:, :3].astype(int)
    assert len(colours) and np.all(colours.max(axis=1) < 60)


@pytest.mark.unit
@pytest.mark.parametrize("mode", ["puffy", "relief", "heightmap"])
def test_height_fields_are_meshed_within_the_bound_with_fewer_faces(mode: str) -> None:
    out = _run(disc_rgba(200), mode=mode, target_faces=50_000)
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, deviation_bound_mm(out.intent))
    assert fidelity.within_bound and fidelity.stray_share < 0.01 and fidelity.silhouette_iou > 0.99
    assert len(out.mesh.faces) < 50_000


@pytest.mark.unit
@pytest.mark.parametrize(
    ("mask", "method"), [("auto", "alpha"), ("alpha", "alpha"), ("grabcut", "grabcut"), ("none", "none")]
)
def test_the_mask_parameter_picks_the_source(mask: str, method: str) -> None:
    out = _run(
        disc_rgba(160, colour=(40, 60, 200)) if mask != "grabcut" else _opaque(drawing_on_white(160)),
        mask=mask,
    )
    assert check(out.mesh).ok and out.notes["mask_method"] == method
    assert out.notes["mask_seconds"] >= 0 and 0 <= out.notes["mask_confidence"] <= 1
    low, high = out.mesh.bounds
    corner = np.linalg.norm((out.mesh.vertices[:, :2] - low[:2]) / (high[:2] - low[:2]), axis=1).min()
    # With none the whole square picture is the body (it reaches its corners); a disc does not.
    assert (corner < 0.02) == (mask == "none")


@pytest.mark.integration
def test_the_neural_mask_builds_a_subject_on_a_busy_background() -> None:
    from tests.imaging.test_mask import ball_on_gravel

    settings = Settings()
    require(saliency_network(settings).network is not None, saliency_network(settings).reason)
    picture, _ = ball_on_gravel()
    out = get_engine("relief").generate(
        EngineInput(rgba=picture), ReliefParameters(mask="neural", target_faces=4000), settings
    )
    assert check(out.mesh).ok and out.notes["mask_method"] == "neural"
    assert out.notes["mask_network"] == "u2netp" and out.notes["mask_coverage"] < 0.4
    low, high = out.mesh.bounds  # a ball: as wide as deep, not the square picture
    assert (high[0] - low[0]) / (high[1] - low[1]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.unit
def test_a_painted_mask_edit_is_followed() -> None:
    """A ring painted over a photo: the photo has no hole, so a body with one follows the edit."""
    edit = np.zeros((100, 200), np.uint8)  # half the picture's size, and wider than tall
    cv2.ellipse(edit, (100, 50), (90, 40), 0, 0, 360, 255, -1)
    cv2.ellipse(edit, (100, 50), (40, 18), 0, 0, 360, 0, -1)
    engine = get_engine("relief")
    params = validate_parameters(engine, {"target_faces": 6000})
    picture = _opaque(cv2.resize(photo_like(200), (400, 200)))  # 400 × 200, no transparency
    out = engine.generate(EngineInput(rgba=picture, mask_edit=edit), params, Settings())
    assert check(out.mesh).ok and out.notes["mask_method"] == "edit"
    assert out.mesh.euler_number == 0  # one closed body with one hole through it: a ring
    low, high = out.mesh.bounds
    assert (high[0] - low[0]) / (high[1] - low[1]) == pytest.approx(90 / 40, rel=0.05)
