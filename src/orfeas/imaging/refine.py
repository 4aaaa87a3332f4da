"""From a rough subject mask to a clean one: the saliency map's edge snapped to the picture's own
edges (a colour guided filter), stray blobs dropped, holes filled, the outline smoothed."""

from __future__ import annotations

import cv2
import numpy as np

#: The guided filter's window radius and regularisation, as a share of the picture's longer side
#: and in squared [0, 1] colour units (He et al., "Guided Image Filtering", 2010/2013).
GUIDE_RADIUS = 0.008
GUIDE_EPS = 1e-3
#: The filter's coefficients are computed on a copy this much smaller (the "fast" guided filter).
GUIDE_SUBSAMPLE = 2


def saliency_mask(rgb: np.ndarray, saliency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network's saliency (any size, 0–1) as a mask at the picture's size: upsampled, its edge
    refined with the picture as guide, thresholded at ½. Returns (mask, refined saliency)."""
    h, w = rgb.shape[:2]
    rough = cv2.resize(saliency.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    guide = rgb[..., :3].astype(np.float32) / 255.0
    radius = max(2, round(GUIDE_RADIUS * max(h, w)))
    refined = np.clip(guided_filter(guide, rough, radius, GUIDE_EPS), 0.0, 1.0)
    return refined >= 0.5, refined


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """The colour guided filter of ``source`` (H, W) under ``guide`` (H, W, 3, floats in [0, 1]).

    The output follows the guide's edges where ``source`` changes, and is ``source`` smoothed
    elsewhere. The per-window linear coefficients are computed on a copy reduced by
    :data:`GUIDE_SUBSAMPLE` and applied at full resolution.
    """
    h, w = source.shape
    s = GUIDE_SUBSAMPLE if min(h, w) >= 64 else 1
    size = (max(1, w // s), max(1, h // s))
    small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA) if s > 1 else guide
    small_source = cv2.resize(source, size, interpolation=cv2.INTER_AREA) if s > 1 else source
    r = max(1, radius // s)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)

    mean_i = mean(small_guide)
    mean_p = mean(small_source)
    cov_ip = mean(small_guide * small_source[..., None]) - mean_i * mean_p[..., None]
    # The guide's 3×3 covariance in each window, regularised, inverted in closed form.
    var = {}
    for a, b in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        var[a, b] = mean(small_guide[..., a] * small_guide[..., b]) - mean_i[..., a] * mean_i[..., b]
    rr, rg, rb = var[0, 0] + eps, var[0, 1], var[0, 2]
    gg, gb, bb = var[1, 1] + eps, var[1, 2], var[2, 2] + eps
    inv_rr, inv_rg, inv_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    inv_gg, inv_gb, inv_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * inv_rr + rg * inv_rg + rb * inv_rb
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack(
        [
            (inv_rr * c0 + inv_rg * c1 + inv_rb * c2) / det,
            (inv_rg * c0 + inv_gg * c1 + inv_gb * c2) / det,
            (inv_rb * c0 + inv_gb * c1 + inv_bb * c2) / det,
        ],
        axis=-1,
    ).astype(np.float32)
    b = (mean_p - np.sum(a * mean_i, axis=-1)).astype(np.float32)
    mean_a, mean_b = mean(a), mean(b)
    if s > 1:
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.sum(mean_a * guide, axis=-1) + mean_b


def drop_faint_parts(mask: np.ndarray, saliency: np.ndarray, *, share: float = 0.25) -> np.ndarray:
    """Drop parts smaller than ``share`` of the largest one that the network was unsure of (mean
    saliency under 0.8): a shadow or a background blob, not a second piece of the subject."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    means = np.bincount(labels.ravel(), weights=saliency.ravel(), minlength=count)[1:] / np.maximum(areas, 1)
    keep = np.concatenate([[False], (areas >= share * areas.max()) | (means >= 0.8)])
    return keep[labels]


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
