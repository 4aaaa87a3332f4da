"""Mask refinement: the guided filter moves a coarse saliency edge onto the picture's edge,
hysteresis drops what the network half-believes, and a plain background's colour field
survives uneven light."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.imaging.grabcut import grabcut
from orfeas.imaging.refine import background_coloured, saliency_mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _square_picture(side: int = 400) -> tuple[np.ndarray, np.ndarray]:
    truth = np.zeros((side, side), bool)
    truth[100:300, 120:320] = True
    rgb = np.where(truth[..., None], np.array([200, 40, 40], np.uint8), np.array([60, 120, 60], np.uint8))
    return rgb.astype(np.uint8), truth


@pytest.mark.unit
def test_the_guided_filter_moves_a_coarse_saliency_edge_onto_the_picture_edge() -> None:
    side = 640
    truth = np.zeros((side, side), np.uint8)
    cv2.circle(truth, (320, 320), 200, 1, -1)
    truth = truth.astype(bool)
    rgb = np.where(truth[..., None], np.array([200, 40, 40], np.uint8), np.array([60, 120, 60], np.uint8))
    # The network's answer at 200 px (as 320 px for a 1024 px picture), one coarse pixel too wide.
    coarse = cv2.resize(truth.astype(np.float32), (200, 200), interpolation=cv2.INTER_AREA)
    coarse = cv2.GaussianBlur(cv2.dilate(coarse, np.ones((3, 3), np.uint8)), (0, 0), 1.0)
    rough = cv2.resize(coarse, (side, side), interpolation=cv2.INTER_LINEAR) >= 0.5
    mask, refined = saliency_mask(rgb.astype(np.uint8), coarse)
    assert _iou(mask, truth) > _iou(rough, truth) + 0.01
    assert refined.min() >= 0.0 and refined.max() <= 1.0


@pytest.mark.unit
def test_hysteresis_drops_what_the_network_half_believes() -> None:
    rgb, truth = _square_picture()
    saliency = truth.astype(np.float32)
    saliency[:, 20:60] = 0.65  # a pole far from the subject the network is unsure of
    mask, _ = saliency_mask(rgb, saliency)
    assert not mask[:, 25:55].any() and _iou(mask, truth) > 0.98


@pytest.mark.unit
def test_a_vignetted_sheet_of_paper_is_background_everywhere() -> None:
    side = 512
    v, u = np.mgrid[0:side, 0:side] / side - 0.5
    light = 1.0 - 0.3 * (u**2 + v**2)  # 15 % darker in the corners
    paper = np.clip(245 * light[..., None] + np.random.default_rng(1).normal(0, 3, (side, side, 3)), 0, 255)
    picture = paper.astype(np.uint8)
    cv2.rectangle(picture, (180, 180), (330, 330), (20, 20, 20), 12)  # a drawn outline
    frame = np.zeros((side, side), bool)
    frame[:10], frame[-10:], frame[:, :10], frame[:, -10:] = True, True, True, True
    background = background_coloured(picture, frame)
    assert background[256, 256] and background[200, 200]  # the bright centre, inside the outline
    assert not background[180, 250] and not background[330, 250]  # the strokes
    strokes = picture.min(axis=2) < 100
    found, confidence = grabcut(picture)
    assert _iou(found, strokes) > 0.8 and confidence > 0.8
