"""The subject's foreground mask: the alpha channel when it is meaningful, else GrabCut.

GrabCut runs on a copy of at most 512 px with a fixed RNG seed, so the same picture always gives
the same mask. It is good on plain backgrounds and poor on busy photos; the confidence figure says
which case we are in instead of pretending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from orfeas.errors import InputRejected

#: Longest side of the copy GrabCut works on (its cost grows with the pixel count).
GRABCUT_SIDE = 512
_GRABCUT_SEED = 20240601


@dataclass(frozen=True)
class ForegroundMask:
    """A boolean (H, W) mask of the subject, how it was found, and how far to trust it (0–1)."""

    mask: np.ndarray
    method: Literal["alpha", "grabcut", "whole", "rembg"]
    confidence: float

    @property
    def coverage(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def foreground_mask(
    rgba: np.ndarray, *, smooth_px: float = 1.5, remover: Callable[[np.ndarray], np.ndarray] | None = None
) -> ForegroundMask:
    """Find the subject in an RGBA image; the result is cleaned and has the image's size.

    ``remover`` (see :mod:`orfeas.imaging.background`) maps RGB to a foreground probability; when
    given it is tried before GrabCut, and GrabCut still runs if it finds no subject.
    """
    alpha = rgba[..., 3]
    if alpha.size > 1 and not np.any(alpha >= 128):
        raise InputRejected("The picture is fully transparent: there is nothing to build.", code="no_subject")
    if _alpha_is_meaningful(alpha):
        raw = alpha >= 128
        return ForegroundMask(clean_mask(raw, smooth_px=smooth_px), "alpha", 1.0)
    if remover is not None:
        probability = remover(rgba[..., :3]).astype(np.float32) / 255.0
        if (probability >= 0.5).mean() >= 0.005:
            # Confidence: how decisive the model is (1 when every pixel is clearly in or out).
            confidence = round(float(np.mean(np.abs(2.0 * probability - 1.0))), 3)
            return ForegroundMask(clean_mask(probability >= 0.5, smooth_px=smooth_px), "rembg", confidence)
    mask, confidence = _grabcut(rgba[..., :3])
    if mask.mean() < 0.005:
        # Nothing separable from the background: use the whole picture rather than fail.
        return ForegroundMask(np.ones(alpha.shape, dtype=bool), "whole", 0.0)
    return ForegroundMask(clean_mask(mask, smooth_px=smooth_px), "grabcut", confidence)


def clean_mask(mask: np.ndarray, *, smooth_px: float = 1.5, min_component: float = 0.002) -> np.ndarray:
    """Close small gaps, drop specks, fill small holes and smooth the outline of a boolean mask."""
    m = mask.astype(np.uint8)
    h, w = m.shape
    area = h * w
    if smooth_px > 0 and min(h, w) >= 8:
        k = max(1, round(smooth_px))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    m = _drop_small(m, max(1, int(min_component * area)))
    m = 1 - _drop_small(1 - m, max(1, int(min_component * 0.5 * area)), keep_border=True)
    if smooth_px > 0 and min(h, w) >= 8:
        blurred = cv2.GaussianBlur(m.astype(np.float32), (0, 0), smooth_px)
        m = (blurred >= 0.5).astype(np.uint8)
    return m.astype(bool)


def _alpha_is_meaningful(alpha: np.ndarray) -> bool:
    """True when the alpha channel separates a subject from a transparent background."""
    transparent = float((alpha < 128).mean())
    return 0.001 < transparent < 0.999


def _drop_small(m: np.ndarray, min_area: int, keep_border: bool = False) -> np.ndarray:
    """Remove 8-connected components of ``m`` smaller than ``min_area`` pixels.

    With ``keep_border`` components touching the image border are kept (background regions).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if count <= 1:
        return m
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    if keep_border:
        x, y, bw, bh = (stats[:, i] for i in range(4))
        touches = (x == 0) | (y == 0) | (x + bw >= m.shape[1]) | (y + bh >= m.shape[0])
        keep |= touches
    keep[0] = False
    return keep[labels].astype(np.uint8)


def _grabcut(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """GrabCut seeded from the border colour on a ≤512 px copy; returns (mask, confidence)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    small = cv2.resize(
        rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    sh, sw = small.shape[:2]
    if sh < 8 or sw < 8:
        return np.ones((h, w), dtype=bool), 0.0
    border = max(1, round(0.02 * max(sh, sw)))
    init = np.full((sh, sw), cv2.GC_PR_FGD, dtype=np.uint8)
    # Pixels that look like the border colour start as probable background, the frame as sure background.
    ring = np.concatenate(
        [
            small[:border].reshape(-1, 3),
            small[-border:].reshape(-1, 3),
            small[:, :border].reshape(-1, 3),
            small[:, -border:].reshape(-1, 3),
        ]
    ).astype(np.float32)
    border_colour = np.median(ring, axis=0)
    spread = max(12.0, float(np.percentile(np.linalg.norm(ring - border_colour, axis=1), 90)) * 1.5)
    distance = np.linalg.norm(small.astype(np.float32) - border_colour, axis=2)
    init[distance <= spread] = cv2.GC_PR_BGD
    init[:border] = init[-border:] = cv2.GC_BGD
    init[:, :border] = init[:, -border:] = cv2.GC_BGD
    if not np.any(init == cv2.GC_PR_FGD):
        return np.zeros((h, w), dtype=bool), 0.0
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_GRABCUT_SEED)
    cv2.grabCut(small, init, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    small_mask = np.isin(init, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    confidence = _separation(small, small_mask, ring, border_colour)
    mask = cv2.resize(small_mask, (w, h), interpolation=cv2.INTER_LINEAR) > 0
    return mask, confidence


def _separation(small: np.ndarray, mask: np.ndarray, ring: np.ndarray, border_colour: np.ndarray) -> float:
    """How cleanly the subject stands out: a plain border far in colour from the subject scores high."""
    fg = small[mask > 0].astype(np.float32)
    if fg.size == 0:
        return 0.0
    border_spread = float(np.mean(np.linalg.norm(ring - border_colour, axis=1)))
    plain = float(np.clip(1.0 - border_spread / 40.0, 0.0, 1.0))
    contrast = float(np.clip(np.median(np.linalg.norm(fg - border_colour, axis=1)) / 80.0, 0.0, 1.0))
    return round(plain * 0.6 + contrast * 0.4, 3)
