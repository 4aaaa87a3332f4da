"""Reading a round object's side view: its axis, how symmetric it is, the parts that are not round
(a handle, a spout), and the half-width at each height — the profile ``revolve`` turns.

Everything here works in the pixels of the subject's mask, cropped to the round body: row 0 is
the top, and a column ``c`` spans ``[c, c + 1)``, so an axis at ``a`` mirrors column ``c`` onto
``2a − 1 − c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

#: An asymmetric part larger than this share of the subject is "not round" and left out.
EXTRA_SHARE = 0.015
#: Smoothing of the profile: rows either side (σ) of its local fit, and the jump between two rows
#: (px) above which the profile has a real step (a collar, a crown) that is kept sharp. Pixel
#: stairs jump by one pixel; a slope steeper than 45° by a little more.
SMOOTH_ROWS = 4.0
STEP_PX = 2.5

Side = Literal["average", "better", "left", "right"]


@dataclass(frozen=True)
class Extra:
    """A part of the subject that its mirror image does not have (a handle, a spout, an arm)."""

    side: Literal["left", "right"]
    share: float  # of the subject's area
    rows: tuple[int, int]  # first and last row (in the subject's crop)


@dataclass(frozen=True)
class SideView:
    """A subject seen from the side, read as a round body about a vertical axis."""

    mask: np.ndarray  # the whole subject, cropped to the body's rows and the subject's columns
    body: np.ndarray  # the subject without its extras
    origin: tuple[int, int]  # the crop's top-left corner in the mask it came from (row, column)
    axis: float  # the axis's column in the crop (pixel-edge coordinates)
    symmetry: float  # IoU of the subject with its mirror image about the axis
    left: np.ndarray  # the body's half-width per row, left of the axis (px)
    right: np.ndarray
    whole_left: np.ndarray  # the same for the whole subject, extras included
    whole_right: np.ndarray
    extras: list[Extra] = field(default_factory=list)
    outside: int = 0  # subject pixels above or below the body's rows (a handle rising over a rim)

    @property
    def rows(self) -> int:
        return int(self.mask.shape[0])


def read_side_view(subject: np.ndarray, axis_column: float | None = None) -> SideView:
    """Find the axis (unless ``axis_column``, in ``subject``'s columns, is given), the extras and
    the half-widths of a boolean subject mask."""
    if axis_column is None:
        axis, _ = mirror_axis(subject)
        extras_mask = asymmetric_parts(subject, axis)
        if extras_mask.any() and (subject & ~extras_mask).any():
            axis, _ = mirror_axis(subject & ~extras_mask)  # the handle no longer pulls at it
            extras_mask = asymmetric_parts(subject, axis)
    else:
        axis = float(axis_column)
        extras_mask = asymmetric_parts(subject, axis)
    body = subject & ~extras_mask
    if not body.any():
        body, extras_mask = subject, np.zeros_like(subject)
    rows = np.nonzero(body.any(axis=1))[0]
    cols = np.nonzero(subject.any(axis=0))[0]
    top, bottom, left = int(rows[0]), int(rows[-1]) + 1, int(cols[0])
    crop = np.s_[top:bottom, left : int(cols[-1]) + 1]
    outside = int(np.count_nonzero(subject[:top]) + np.count_nonzero(subject[bottom:]))
    mask, body, extras_mask = subject[crop], body[crop], extras_mask[crop]
    axis -= left
    half_left, half_right = half_widths(body, axis)
    whole_left, whole_right = half_widths(mask, axis)
    return SideView(
        mask=mask,
        body=body,
        origin=(top, left),
        axis=axis,
        symmetry=mirror_iou(mask, axis),
        extras=describe_extras(extras_mask, mask, axis),
        left=half_left,
        right=half_right,
        whole_left=whole_left,
        whole_right=whole_right,
        outside=outside,
    )


def mirror_axis(mask: np.ndarray) -> tuple[float, float]:
    """The vertical axis (to half a pixel) about which ``mask`` best matches its mirror image,
    and that match as an IoU.

    For every candidate axis at once: the overlap of each row with its mirror image is that row's
    self-convolution at index 2a − 1, so one FFT per row and a sum over rows give them all.
    """
    rows = np.nonzero(mask.any(axis=1))[0]
    cols = np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return mask.shape[1] / 2.0, 0.0
    m = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    width = m.shape[1]
    size = scipy.fft.next_fast_len(2 * width, real=True)
    spectrum = scipy.fft.rfft(m, n=size, axis=1)
    overlap = scipy.fft.irfft((spectrum * spectrum).sum(axis=0), n=size)[: 2 * width - 1]
    area = float(m.sum())
    iou = overlap / np.maximum(2 * area - overlap, 1e-9)
    best = int(np.argmax(iou))
    return cols[0] + (best + 1) / 2.0, float(iou[best])


def mirrored(mask: np.ndarray, axis: float) -> np.ndarray:
    """``mask`` mirrored about the column ``axis`` (rounded to half a pixel); outside is empty."""
    width = mask.shape[1]
    source = round(2 * axis) - 1 - np.arange(width)
    inside = (source >= 0) & (source < width)
    out = np.zeros_like(mask)
    out[:, inside] = mask[:, source[inside]]
    return out


def mirror_iou(mask: np.ndarray, axis: float) -> float:
    """How symmetric ``mask`` is about ``axis``: IoU with its mirror image (1 = perfectly)."""
    flipped = mirrored(mask, axis)
    union = np.count_nonzero(mask | flipped)
    return float(np.count_nonzero(mask & flipped) / union) if union else 0.0


def asymmetric_parts(mask: np.ndarray, axis: float) -> np.ndarray:
    """The parts of ``mask`` its mirror image lacks that are too big to be a wobble of the pen:
    connected pieces of the difference whose core (after an opening) holds at least
    :data:`EXTRA_SHARE` of the subject."""
    excess = (mask & ~mirrored(mask, axis)).astype(np.uint8)
    if not excess.any():
        return excess.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    core = cv2.morphologyEx(excess, cv2.MORPH_OPEN, kernel).astype(bool)
    count, labels = cv2.connectedComponents(excess, connectivity=8)
    core_area = np.bincount(labels[core], minlength=count)
    core_area[0] = 0  # the background
    big = core_area >= EXTRA_SHARE * np.count_nonzero(mask)
    return big[labels]


def describe_extras(extras: np.ndarray, mask: np.ndarray, axis: float) -> list[Extra]:
    """Each connected extra part: its side, its share of the subject and the rows it spans."""
    labels, _ = ndimage.label(extras)
    area = max(1, np.count_nonzero(mask))
    found = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        part = labels[box] == index
        cols = np.nonzero(part.any(axis=0))[0] + box[1].start
        side: Literal["left", "right"] = "left" if cols.mean() + 0.5 < axis else "right"
        found.append(Extra(side, float(part.sum()) / area, (box[0].start, box[0].stop - 1)))
    return sorted(found, key=lambda e: -e.share)


def half_widths(body: np.ndarray, axis: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how far the body reaches left and right of the axis (px; 0 on an empty row)."""
    filled = body.any(axis=1)
    width = body.shape[1]
    first = np.argmax(body, axis=1)
    last = width - np.argmax(body[:, ::-1], axis=1)  # one past the last filled column
    left = np.where(filled, np.maximum(axis - first, 0.0), 0.0)
    right = np.where(filled, np.maximum(last - axis, 0.0), 0.0)
    return left.astype(np.float64), right.astype(np.float64)


def choose_side(view: SideView, side: Side) -> tuple[np.ndarray, str]:
    """The half-width per row for ``side``: the body's two sides averaged, or one side of the
    whole subject — as asked, or the better one (the one whose outline goes less in and out, so
    a damaged side, a wobbly one or the side with a handle loses).

    One side is taken as drawn, extras included: what its mirror image lacks may be a bite out
    of the other side rather than a handle on this one.
    """
    if side == "left":
        return view.whole_left, "left"
    if side == "right":
        return view.whole_right, "right"
    if side == "better":
        if np.abs(np.diff(view.whole_left)).sum() <= np.abs(np.diff(view.whole_right)).sum():
            return view.whole_left, "left"
        return view.whole_right, "right"
    return (view.left + view.right) / 2.0, "average"


def smooth_profile(radius: np.ndarray, rows: float = SMOOTH_ROWS, step: float = STEP_PX) -> np.ndarray:
    """The half-width with the pixel stairs smoothed away and the real steps kept sharp.

    A jump of more than ``step`` px between neighbouring rows is a step (a collar, the underside
    of a crown); the profile is smoothed between steps only, by a local linear fit with Gaussian
    weights (σ = ``rows``), which keeps slopes and curves where a plain average would flatten
    them, also right next to a step.
    """
    n = len(radius)
    if n < 3:
        return radius.astype(np.float64)
    reach = max(1, int(np.ceil(3 * rows)))
    piece = np.concatenate([[0], np.cumsum(np.abs(np.diff(radius)) > step)])
    padded_r = np.pad(radius.astype(np.float64), reach, mode="edge")
    padded_piece = np.pad(piece, reach, constant_values=-1)
    values = sliding_window_view(padded_r, 2 * reach + 1)
    same = sliding_window_view(padded_piece, 2 * reach + 1) == piece[:, None]
    d = np.arange(-reach, reach + 1, dtype=np.float64)[None, :]
    w = np.exp(-(d**2) / (2 * rows**2)) * same
    s0, s1, s2 = w.sum(axis=1), (w * d).sum(axis=1), (w * d * d).sum(axis=1)
    t0, t1 = (w * values).sum(axis=1), (w * d * values).sum(axis=1)
    determinant = s0 * s2 - s1 * s1
    fitted = np.where(
        determinant > 1e-9, (s2 * t0 - s1 * t1) / np.where(determinant > 1e-9, determinant, 1), t0 / s0
    )
    return np.maximum(fitted, 0.0)


def silhouette(radius: np.ndarray, axis: float, width: int) -> np.ndarray:
    """The front view of the profile turned about ``axis``: the pixels whose centres lie within
    ``radius`` of it, row by row."""
    centres = np.arange(width) + 0.5
    return np.abs(centres[None, :] - axis) <= radius[:, None]
