"""The subject mask: each source does what it says, the cascade picks by confidence, a missing or
damaged network falls back to GrabCut with the reason, a painted edit wins."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.errors import EngineUnavailable, InputRejected
from orfeas.imaging import apply_edit, foreground_mask, mask_sources, subject_mask
from orfeas.imaging.mask import ForegroundMask, clean_mask
from orfeas.imaging.models import file_problem, model_path
from orfeas.imaging.saliency import NetworkError, saliency_network, u2netp_saliency
from orfeas.settings import Settings
from tests.conftest import MODELS_DIR, ball_on_gravel, disc_rgba, drawing_on_white, photo_like, require


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def model_settings() -> Settings:
    settings = Settings(models_dir=MODELS_DIR)
    require(not file_problem(model_path(MODELS_DIR)), f"u2netp.onnx is not placed in {MODELS_DIR}")
    return settings


@pytest.fixture
def no_model(tmp_path) -> Settings:
    return Settings(models_dir=tmp_path / "empty-models")


# --- the sources ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_alpha_mask_is_used_when_meaningful(model_settings) -> None:
    for source in ("auto", "alpha"):
        found = subject_mask(disc_rgba(128), source, model_settings)
        assert found.method == "alpha" and found.confidence == 1.0
        assert abs(found.coverage - np.pi * 0.4**2) < 0.02


@pytest.mark.unit
def test_mask_alpha_on_an_opaque_picture_is_a_parameter_error(model_settings) -> None:
    with pytest.raises(InputRejected) as caught:
        subject_mask(_rgba(drawing_on_white(96)), "alpha", model_settings)
    assert caught.value.field == "mask" and "transparent" in caught.value.message


@pytest.mark.unit
def test_mask_none_is_the_whole_picture_even_with_alpha(model_settings) -> None:
    found = subject_mask(disc_rgba(96), "none", model_settings)
    assert found.method == "none" and found.mask.all()


@pytest.mark.integration
def test_the_neural_mask_finds_a_subject_on_a_busy_background_where_grabcut_fails(model_settings) -> None:
    picture, truth = ball_on_gravel()
    neural = subject_mask(picture, "neural", model_settings)
    grabcut = subject_mask(picture, "grabcut", model_settings)
    auto = subject_mask(picture, "auto", model_settings)
    assert neural.method == "neural" and neural.details["network"] == "u2netp"
    assert grabcut.method in ("grabcut", "whole")
    assert _iou(neural.mask, truth) > 0.95
    assert _iou(grabcut.mask, truth) < 0.6  # GrabCut takes the gravel for the subject
    assert auto.method == "neural" and _iou(auto.mask, truth) > 0.95
    assert 0.6 <= neural.confidence <= 1.0 and neural.seconds > 0


@pytest.mark.integration
def test_grabcut_is_used_when_asked_even_with_the_model_present(model_settings) -> None:
    picture = _rgba(drawing_on_white(200))
    first = subject_mask(picture, "grabcut", model_settings)
    second = subject_mask(picture, "grabcut", model_settings)
    assert first.method == "grabcut" and np.array_equal(first.mask, second.mask)  # deterministic
    assert first.confidence > 0.6 and first.mask[128, 160] and not first.mask[5, 5]


@pytest.mark.integration
def test_the_neural_saliency_is_a_map_in_0_1(model_settings) -> None:
    picture, truth = ball_on_gravel(320)
    saliency = u2netp_saliency(picture[..., :3], model_path(MODELS_DIR))
    assert saliency.shape == (320, 320) and saliency.dtype == np.float32
    assert saliency.min() >= 0.0 and saliency.max() <= 1.0
    assert saliency[truth].mean() > 0.9 and saliency[~truth].mean() < 0.1


# --- fallback and damaged files -------------------------------------------------------------------


@pytest.mark.unit
def test_without_the_model_file_auto_falls_back_to_grabcut_with_the_reason(no_model) -> None:
    found = subject_mask(_rgba(drawing_on_white(160)), "auto", no_model)
    assert found.method == "grabcut"
    assert "no model file at" in found.reason and "u2netp.onnx" in found.reason
    assert "`python -m orfeas.imaging.models` places it" in found.reason
    assert found.notes()["mask_reason"] == found.reason
    sources = {row["name"]: row for row in mask_sources(no_model)}
    assert not sources["neural"]["available"] and "no model file" in sources["neural"]["reason"]
    assert sources["auto"]["available"] and sources["auto"]["reason"].startswith("GrabCut only")
    assert sources["grabcut"]["available"] and sources["none"]["available"]


@pytest.mark.unit
def test_asking_for_neural_without_the_model_is_a_clear_error(no_model) -> None:
    with pytest.raises(EngineUnavailable, match="neural subject mask cannot run here: no model file"):
        subject_mask(_rgba(drawing_on_white(96)), "neural", no_model)


@pytest.mark.unit
def test_a_damaged_model_file_gives_a_reason_not_a_crash(tmp_path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "u2netp.onnx").write_bytes(b"\x08\x07garbage" * 1000)
    settings = Settings(models_dir=models)
    state = saliency_network(settings)
    assert state.network is None and "not the 4,574,861 of u2netp.onnx" in state.reason
    found = subject_mask(_rgba(drawing_on_white(96)), "auto", settings)
    assert found.method == "grabcut" and "damaged" in found.reason
    with pytest.raises(EngineUnavailable, match="damaged"):
        subject_mask(_rgba(drawing_on_white(96)), "neural", settings)


@pytest.mark.unit
def test_a_file_onnxruntime_cannot_load_is_a_network_error(tmp_path) -> None:
    path = tmp_path / "u2netp.onnx"
    path.write_bytes(b"\x08\x07garbage" * 1000)
    with pytest.raises(NetworkError, match="not a loadable ONNX model"):
        u2netp_saliency(np.zeros((32, 32, 3), np.uint8), path)


@pytest.mark.unit
def test_a_network_that_fails_leaves_auto_to_grabcut(tmp_path) -> None:
    from orfeas.imaging.saliency import Network

    def broken(rgb: np.ndarray) -> np.ndarray:
        raise NetworkError("the graph does not run")

    found = foreground_mask(_rgba(drawing_on_white(96)), network=Network("broken", tmp_path, broken))
    assert found.method == "grabcut" and found.reason == "neural mask failed: the graph does not run"


@pytest.mark.unit
def test_a_network_that_sees_nothing_leaves_it_to_grabcut(tmp_path) -> None:
    from orfeas.imaging.saliency import Network

    blind = Network("blind", tmp_path, lambda rgb: np.zeros((320, 320), np.float32))
    found = foreground_mask(_rgba(drawing_on_white(96)), network=blind)
    assert found.method == "grabcut" and found.details["neural_confidence"] == 0.0


# --- edits and cleaning ---------------------------------------------------------------------------


@pytest.mark.unit
def test_a_painted_edit_adds_and_removes_and_leaves_grey_alone() -> None:
    base = np.zeros((100, 100), bool)
    base[20:80, 20:80] = True
    found = ForegroundMask(base, "grabcut", 0.7)
    edit = np.full((50, 50), 128, np.uint8)  # half the size: scaled to the mask
    edit[:5, :5] = 255  # add the top-left corner
    edit[20:30, 20:30] = 0  # cut a hole in the middle
    edited = apply_edit(found, edit)
    assert edited.mask[:10, :10].all() and not edited.mask[40:60, 40:60].any()
    assert edited.mask[25, 25] and not edited.mask[90, 90]  # untouched where the edit is grey
    assert edited.method == "grabcut" and 0 < edited.details["edited"] < 0.1


@pytest.mark.unit
def test_an_edit_that_decides_every_pixel_is_the_mask(no_model) -> None:
    edit = np.zeros((64, 80), np.uint8)
    edit[10:50, 20:40] = 255
    found = subject_mask(_rgba(photo_like(128)), "auto", no_model, edit=edit)
    assert found.method == "edit" and found.confidence == 1.0
    expected = cv2.resize(edit, (128, 128), interpolation=cv2.INTER_NEAREST) >= 192
    assert np.array_equal(found.mask, expected)


@pytest.mark.unit
def test_an_edit_that_removes_everything_means_no_subject(no_model) -> None:
    with pytest.raises(InputRejected) as caught:
        subject_mask(_rgba(photo_like(64)), "auto", no_model, edit=np.zeros((64, 64), np.uint8))
    assert caught.value.code == "no_subject"


@pytest.mark.unit
def test_busy_photo_gets_lower_grabcut_confidence_than_plain_background(no_model) -> None:
    plain = subject_mask(_rgba(drawing_on_white(200)), "grabcut", no_model)
    busy = foreground_mask(_rgba(photo_like(200)), "grabcut")
    assert busy.confidence < plain.confidence


@pytest.mark.unit
def test_uniform_picture_falls_back_to_whole() -> None:
    found = foreground_mask(_rgba(np.full((64, 64, 3), 128, np.uint8)), "grabcut")
    assert found.method == "whole" and found.mask.all() and found.confidence == 0.0


@pytest.mark.unit
def test_clean_mask_drops_specks_and_fills_small_holes() -> None:
    mask = np.zeros((100, 100), bool)
    mask[20:80, 20:80] = True
    mask[50, 50] = False  # a pinhole
    mask[5, 5] = True  # a speck
    cleaned = clean_mask(mask)
    assert cleaned[50, 50] and not cleaned[5, 5]


@pytest.mark.unit
def test_fully_transparent_picture_has_no_subject() -> None:
    with pytest.raises(InputRejected) as caught:
        foreground_mask(np.zeros((32, 32, 4), np.uint8))
    assert caught.value.code == "no_subject"


@pytest.mark.unit
def test_an_unknown_source_is_a_parameter_error() -> None:
    with pytest.raises(InputRejected) as caught:
        foreground_mask(disc_rgba(32), "magic")  # type: ignore[arg-type]
    assert caught.value.field == "mask"


@pytest.mark.unit
def test_where_the_network_finds_nothing_grabcut_answers_even_with_the_whole_picture(tmp_path) -> None:
    from orfeas.imaging.saliency import Network

    blind = Network("blind", tmp_path, lambda rgb: np.zeros((320, 320), np.float32))
    found = foreground_mask(_rgba(np.full((64, 64, 3), 128, np.uint8)), network=blind)
    assert found.method == "whole" and found.mask.all()
