"""GrabCut seeded from the picture's border colour: the subject mask without any model file.

It runs on a copy of at most :data:`GRABCUT_SIDE` px with a fixed RNG seed, so the same picture
always gives the same mask. It is good on plain backgrounds and poor on busy photos; its
confidence figure says which case we are in instead of pretending.
"""

from __future__ import annotations

import cv2
import numpy as np

from orfeas.imaging.refine import background_coloured, refine_edge

#: Longest side of the copy GrabCut works on (its cost grows with the pixel count).
GRABCUT_SIDE = 512
_GRABCUT_SEED = 20240601


def grabcut(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """GrabCut seeded from the border colour; returns (mask at the picture's size, confidence)."""
    h, w = rgb.shape[:2]
    small = _shrunk(rgb)
    sh, sw = small.shape[:2]
    if sh < 8 or sw < 8:
        return np.ones((h, w), dtype=bool), 0.0
    border = max(1, round(0.02 * max(sh, sw)))
    ring = border_ring(small, border)
    border_colour = np.median(ring, axis=0)
    init = np.full((sh, sw), cv2.GC_PR_FGD, dtype=np.uint8)
    # Pixels with the background's colour (a smooth field fitted to the frame) start as probable
    # background, the frame as sure background.
    frame = np.zeros((sh, sw), bool)
    frame[:border] = frame[-border:] = frame[:, :border] = frame[:, -border:] = True
    init[background_coloured(small, frame)] = cv2.GC_PR_BGD
    init[:border] = init[-border:] = cv2.GC_BGD
    init[:, :border] = init[:, -border:] = cv2.GC_BGD
    if not np.any(init == cv2.GC_PR_FGD):
        return np.zeros((h, w), dtype=bool), 0.0
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(_GRABCUT_SEED)
    cv2.grabCut(small, init, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    small_mask = np.isin(init, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    confidence = _separation(small, small_mask, ring, border_colour)
    soft = cv2.resize(small_mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    # GrabCut ran on a reduced copy: its edge is refined at full resolution like the network's.
    return refine_edge(rgb, soft) >= 0.5, confidence


def border_plainness(rgb: np.ndarray) -> float:
    """1 for a uniform border (a plain background), falling to 0 as its colours spread."""
    small = _shrunk(rgb)
    ring = border_ring(small, max(1, round(0.02 * max(small.shape[:2]))))
    spread = float(np.mean(np.linalg.norm(ring - np.median(ring, axis=0), axis=1)))
    return float(np.clip(1.0 - spread / 40.0, 0.0, 1.0))


def border_ring(small: np.ndarray, border: int) -> np.ndarray:
    """The colours of the picture's outer frame, ``border`` px wide, as (N, 3) float32."""
    return np.concatenate(
        [
            small[:border].reshape(-1, 3),
            small[-border:].reshape(-1, 3),
            small[:, :border].reshape(-1, 3),
            small[:, -border:].reshape(-1, 3),
        ]
    ).astype(np.float32)


def _shrunk(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    if scale == 1.0:
        return np.ascontiguousarray(rgb[..., :3])
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(np.ascontiguousarray(rgb[..., :3]), size, interpolation=cv2.INTER_AREA)


def _separation(small: np.ndarray, mask: np.ndarray, ring: np.ndarray, border_colour: np.ndarray) -> float:
    """How cleanly the subject stands out: a plain border far in colour from the subject scores high."""
    fg = small[mask > 0].astype(np.float32)
    if fg.size == 0:
        return 0.0
    border_spread = float(np.mean(np.linalg.norm(ring - border_colour, axis=1)))
    plain = float(np.clip(1.0 - border_spread / 40.0, 0.0, 1.0))
    contrast = float(np.clip(np.median(np.linalg.norm(fg - border_colour, axis=1)) / 80.0, 0.0, 1.0))
    return round(plain * 0.6 + contrast * 0.4, 3)
