"""From a rough subject mask to a clean one: the saliency map's edge snapped to the picture's own
edges (a colour guided filter), half-believed background structures dropped (hysteresis), specks
removed, small holes filled, the outline smoothed."""

from __future__ import annotations

import cv2
import numpy as np

#: The guided filter's window radius and regularisation, as a share of the picture's longer side
#: and in squared [0, 1] colour units (He et al., "Guided Image Filtering", 2010/2013).
GUIDE_RADIUS = 0.008
GUIDE_EPS = 1e-3
#: The filter's coefficients are computed on a copy this much smaller (the "fast" guided filter).
GUIDE_SUBSAMPLE = 2
#: Hysteresis on the refined saliency: the subject is what the network is sure of (≥ SURE) and the
#: softer pixels (≥ ½) within REACH (share of the longer side) of it. A background structure the
#: network half-believes in (a launch tower behind the subject, a shadow) is dropped.
SURE, REACH = 0.85, 0.016


def saliency_mask(rgb: np.ndarray, saliency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network's saliency (any size, 0–1) as a mask at the picture's size: upsampled, its edge
    refined with the picture as guide, then thresholded with hysteresis (:data:`SURE`,
    :data:`REACH`). Returns (mask, refined saliency)."""
    h, w = rgb.shape[:2]
    refined = refine_edge(
        rgb, cv2.resize(saliency.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    )
    mask = refined >= 0.5
    core = (refined >= SURE).astype(np.uint8)
    if core.any():
        reach = max(1, round(REACH * max(h, w)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
        mask &= cv2.dilate(core, kernel) > 0
    return mask, refined


def refine_edge(rgb: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """A soft mask (0–1, the picture's size) with its edge moved onto the picture's own edges."""
    h, w = soft.shape
    guide = rgb[..., :3].astype(np.float32) / 255.0
    radius = max(2, round(GUIDE_RADIUS * max(h, w)))
    return np.clip(guided_filter(guide, soft.astype(np.float32), radius, GUIDE_EPS), 0.0, 1.0)


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
    a = [
        ((inv_rr * c0 + inv_rg * c1 + inv_rb * c2) / det).astype(np.float32),
        ((inv_rg * c0 + inv_gg * c1 + inv_gb * c2) / det).astype(np.float32),
        ((inv_rb * c0 + inv_gb * c1 + inv_bb * c2) / det).astype(np.float32),
    ]
    b = (mean_p - a[0] * mean_i[..., 0] - a[1] * mean_i[..., 1] - a[2] * mean_i[..., 2]).astype(np.float32)
    coefficients = [mean(x) for x in (*a, b)]
    if s > 1:
        coefficients = [cv2.resize(x, (w, h), interpolation=cv2.INTER_LINEAR) for x in coefficients]
    a0, a1, a2, b_full = coefficients
    return a0 * guide[..., 0] + a1 * guide[..., 1] + a2 * guide[..., 2] + b_full


def background_coloured(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The pixels that have the background's colour, given pixels ``known`` to be background.

    The background is modelled as a smooth colour field — a quadratic in x and y per channel,
    fitted to the known pixels by least squares — so uneven light and a vignette stay background.
    A pixel within the known pixels' own spread of the field (1.5 × their 90th percentile, at
    least 12 levels) is background: the paper inside a line drawing, a brighter centre.
    """
    h, w = known.shape
    ys, xs = np.nonzero(known)
    if ys.size < 16:
        return np.zeros((h, w), bool)
    step = max(1, ys.size // 20_000)  # a deterministic subsample is plenty for six coefficients
    ys, xs = ys[::step], xs[::step]
    basis = _quadratic((xs + 0.5) / w - 0.5, (ys + 0.5) / h - 0.5)  # pixel centres, picture at ±½
    colours = rgb[ys, xs, :3].astype(np.float64)
    coefficients, *_ = np.linalg.lstsq(basis, colours, rcond=None)
    spread = np.linalg.norm(colours - basis @ coefficients, axis=1)
    tolerance = max(12.0, 1.5 * float(np.percentile(spread, 90)))
    # The field is smooth: evaluate it on a ≤256 px grid and scale that up.
    gh, gw = min(h, 256), min(w, 256)
    v, u = np.mgrid[0:gh, 0:gw].astype(np.float32)
    grid = _quadratic((u.ravel() + 0.5) / gw - 0.5, (v.ravel() + 0.5) / gh - 0.5).astype(np.float32)
    field = (grid @ coefficients.astype(np.float32)).reshape(gh, gw, 3)
    field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.linalg.norm(rgb[..., :3].astype(np.float32) - field, axis=2) <= tolerance


def _quadratic(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)


def clean_mask(
    mask: np.ndarray, *, smooth_px: float = 1.5, min_component: float = 0.002, min_hole: float = 0.0003
) -> np.ndarray:
    """Close small gaps, drop specks, fill pinholes and smooth the outline of a boolean mask.

    A speck is a part under ``min_component`` of the picture's area that is also under a tenth of
    the largest part (so the letters of a word stay); a pinhole is a hole under ``min_hole`` of
    the area (so the counter of an A stays).
    """
    m = mask.astype(np.uint8)
    h, w = m.shape
    area = h * w
    if smooth_px > 0 and min(h, w) >= 8:
        k = max(1, round(smooth_px))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, kernel)
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    m = _drop_small(m, max(1, int(min_component * area)), relative=0.1)
    m = 1 - _drop_small(1 - m, max(1, int(min_hole * area)), keep_border=True)
    if smooth_px > 0 and min(h, w) >= 8:
        blurred = cv2.GaussianBlur(m.astype(np.float32), (0, 0), smooth_px)
        m = (blurred >= 0.5).astype(np.uint8)
    return m.astype(bool)


def _drop_small(m: np.ndarray, min_area: int, keep_border: bool = False, relative: float = 0.0) -> np.ndarray:
    """Remove 8-connected components of ``m`` smaller than ``min_area`` pixels (and, with
    ``relative``, smaller than that share of the largest component).

    With ``keep_border`` components touching the image border are kept (background regions).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if count <= 1:
        return m
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = areas >= min_area
    if relative > 0:
        keep |= areas >= relative * areas[1:].max()
    if keep_border:
        x, y, bw, bh = (stats[:, i] for i in range(4))
        touches = (x == 0) | (y == 0) | (x + bw >= m.shape[1]) | (y + bh >= m.shape[0])
        keep |= touches
    keep[0] = False
    return keep[labels].astype(np.uint8)
