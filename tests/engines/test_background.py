"""rembg background removal from a local ONNX file, through the mask step and the relief engine;
GrabCut when it is not set up; the report says which ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import orfeas
from orfeas.imaging.background import background_remover, rembg_state
from orfeas.imaging.mask import foreground_mask
from tests.conftest import drawing_on_white, png_bytes


def _opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture
def with_rembg(configure, monkeypatch: pytest.MonkeyPatch, tiny_rembg: Path):
    monkeypatch.setenv("REMBG_HOME", str(tiny_rembg.parent))  # where rembg accepts custom models
    return configure(rembg_model_path=tiny_rembg)


@pytest.mark.integration
def test_rembg_finds_the_subject(with_rembg) -> None:
    assert rembg_state(with_rembg).available
    remover = background_remover(with_rembg)
    assert remover is not None
    picture = drawing_on_white(128)
    found = foreground_mask(_opaque(picture), remover=remover)
    assert found.method == "rembg" and 0 < found.confidence <= 1
    subject = picture.astype(int).sum(axis=2) < 600  # everything that is not the white paper
    overlap = (found.mask & subject).sum() / (found.mask | subject).sum()
    assert overlap > 0.8


@pytest.mark.integration
def test_relief_reports_which_mask_method_ran(configure, with_rembg, monkeypatch) -> None:
    picture = png_bytes(_opaque(drawing_on_white(128)))
    with_model = orfeas.generate(picture, params={"target_faces": 3000}, settings=with_rembg)
    assert with_model.report["engine"]["mask_method"] == "rembg"
    monkeypatch.delenv("ORFEAS_REMBG_MODEL_PATH")
    settings = configure()
    without = orfeas.generate(picture, params={"target_faces": 3000}, settings=settings)
    assert without.report["engine"]["mask_method"] == "grabcut"


@pytest.mark.unit
def test_a_remover_that_sees_nothing_leaves_it_to_grabcut() -> None:
    picture = _opaque(drawing_on_white(96))
    found = foreground_mask(picture, remover=lambda rgb: np.zeros(rgb.shape[:2], np.uint8))
    assert found.method == "grabcut"
