"""rembg (optional extra) on a local ONNX file: the models directory's u2netp.onnx by default, or
the file ORFEAS_REMBG_MODEL_PATH names, which the neural mask then runs through rembg. Nothing
is ever downloaded; a missing file falls back to GrabCut with the reason."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import orfeas
from orfeas.imaging.background import background_remover, rembg_state
from orfeas.imaging.mask import subject_mask
from orfeas.imaging.models import file_problem, model_path
from orfeas.settings import Settings
from tests.conftest import drawing_on_white, png_bytes, require


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _dark(picture: np.ndarray) -> np.ndarray:
    return picture.astype(int).sum(axis=2) < 600  # everything that is not the white paper


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def rembg_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """rembg's own model folders, empty: whatever rembg would download would land here."""
    for name in ("REMBG_HOME", "U2NET_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return tmp_path


@pytest.mark.integration
def test_rembg_uses_the_models_directory_u2netp_and_downloads_nothing(rembg_home: Path) -> None:
    require(rembg_state(Settings()).reason != "rembg not installed (pip install 'orfeas[rembg]')", "no rembg")
    settings = Settings()
    require(not file_problem(model_path(settings.models_dir)), "u2netp.onnx is not in the models directory")
    state = rembg_state(settings)
    assert state.available and state.path == model_path(settings.models_dir).resolve()
    remover = background_remover(settings)
    assert remover is not None
    picture = drawing_on_white(160)
    probability = remover(picture)
    assert probability.shape == picture.shape[:2] and probability.dtype == np.uint8
    assert _iou(probability >= 128, _dark(picture)) > 0.8
    assert not any(p.is_file() for p in rembg_home.rglob("*"))  # rembg fetched nothing


@pytest.mark.integration
def test_the_neural_mask_runs_through_rembg_on_the_named_file(
    configure, tiny_rembg: Path, rembg_home
) -> None:
    settings = configure(rembg_model_path=tiny_rembg)  # a U²-Net-shaped model scoring dark pixels
    picture = np.full((128, 160, 3), 250, np.uint8)
    cv2.ellipse(picture, (80, 64), (50, 35), 20, 0, 360, (20, 20, 30), -1)  # a dark subject
    found = subject_mask(_opaque(picture), "neural", settings)
    assert found.method == "neural" and found.details["network"].startswith("rembg")
    assert _iou(found.mask, _dark(picture)) > 0.8
    params = {"target_faces": 3000, "mask": "neural"}
    model = orfeas.generate(png_bytes(_opaque(picture)), params=params, settings=settings)
    assert model.report["engine"]["mask_network"].startswith("rembg")


@pytest.mark.integration
def test_a_missing_rembg_file_falls_back_to_grabcut_with_the_reason(configure, tmp_path: Path) -> None:
    settings = configure(rembg_model_path=tmp_path / "absent.onnx")
    found = subject_mask(_opaque(drawing_on_white(96)), "auto", settings)
    assert found.method == "grabcut"
    assert "ORFEAS_REMBG_MODEL_PATH" in found.reason and "absent.onnx" in found.reason
