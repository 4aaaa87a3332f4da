"""Foreground masks: alpha when meaningful, deterministic GrabCut otherwise, with a confidence."""

from __future__ import annotations

import numpy as np
import pytest

from orfeas.errors import InputRejected
from orfeas.imaging import foreground_mask
from orfeas.imaging.mask import clean_mask
from tests.conftest import disc_rgba, drawing_on_white, photo_like


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.mark.unit
def test_alpha_mask_is_used_when_meaningful() -> None:
    found = foreground_mask(disc_rgba(128))
    assert found.method == "alpha" and found.confidence == 1.0
    assert abs(found.coverage - np.pi * 0.4**2) < 0.02


@pytest.mark.unit
def test_grabcut_finds_a_drawing_on_white_deterministically() -> None:
    picture = _rgba(drawing_on_white(200))
    first, second = foreground_mask(picture), foreground_mask(picture)
    assert first.method == "grabcut"
    assert np.array_equal(first.mask, second.mask)
    assert first.confidence > 0.6
    assert first.mask[128, 160] and not first.mask[5, 5]


@pytest.mark.unit
def test_busy_photo_gets_lower_confidence_than_plain_background() -> None:
    plain = foreground_mask(_rgba(drawing_on_white(200)))
    busy = foreground_mask(_rgba(photo_like(200)))
    assert busy.confidence < plain.confidence


@pytest.mark.unit
def test_uniform_picture_falls_back_to_whole() -> None:
    found = foreground_mask(_rgba(np.full((64, 64, 3), 128, np.uint8)))
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
