"""A picture's colours reduced to a few, one for each filament of a colour print.

:func:`reduce_colours` quantises the colours of a region of the picture (the object's footprint
seen from above) in CIELAB, where distances follow what the eye sees (OpenCV's conversion and
k-means, seeded, so the same picture always gives the same palette), then cleans the result the
way a print needs it:

* colours closer than :data:`SAME_COLOUR_DELTA_E` are one colour (k-means splits a flat area
  whose shading varies a little);
* specks go: a majority filter over :data:`MAJORITY_PX` pixels (an anti-aliased edge between two
  colours does not become a thin ring of a third);
* regions smaller than ``min_region_px`` take the colour of the regions around them, and a
  colour left with less than :data:`MIN_SHARE` of the area is dropped the same way — fewer
  colours than asked for is a finding for the report, not a failure.

Instead of a count, a client can give the palette itself (:func:`parse_palette`): a list of
parts, each one or more colours (the studio's merged swatches) — every pixel goes to the part
holding the nearest of those colours, so a merge means exactly what the person clicked.

The colours are the regions' own mean colours (sRGB), largest share first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

#: The most colours a print may have (the filaments of the largest multi-material printers).
MAX_COLOURS = 8
#: The most source colours a given palette may list (merged swatches included).
MAX_SOURCE_COLOURS = 16
#: Colours closer than this (CIELAB ΔE*ab; 2.3 is a just-noticeable difference) are one colour.
SAME_COLOUR_DELTA_E = 10.0
#: A colour left with less than this share of the area is merged into the regions around it.
MIN_SHARE = 0.004
#: Pixels sampled for k-means (the assignment then covers every pixel).
SAMPLES = 24_000
#: Side of the majority filter that removes specks and anti-aliasing rings (pixels).
MAJORITY_PX = 5
#: Bits per channel of the colour look-up table the assignment goes through.
LUT_BITS = 6

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Palette:
    """The reduced colours of a picture region.

    ``colours`` (k, 3) uint8 sRGB, largest share first; ``labels`` (h, w) int16: each pixel's
    colour index, reaching a few pixels past the region (−1 beyond); ``region``: the pixels the
    colours were reduced over; ``shares`` (k,): each colour's share of the region; ``asked``: the
    count asked for (or the number of parts given).
    """

    colours: np.ndarray
    labels: np.ndarray
    region: np.ndarray
    shares: np.ndarray
    asked: int

    @property
    def count(self) -> int:
        return len(self.colours)

    def hex(self) -> list[str]:
        return [hex_colour(c) for c in self.colours]

    def preview(self) -> np.ndarray:
        """The region painted in its reduced colours (RGBA, transparent outside)."""
        out = np.zeros((*self.labels.shape, 4), np.uint8)
        inside = self.region & (self.labels >= 0)
        out[inside, :3] = self.colours[self.labels[inside]]
        out[inside, 3] = 255
        return out


def hex_colour(rgb: np.ndarray | tuple[int, int, int]) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def parse_palette(text: str) -> list[list[tuple[int, int, int]]]:
    """``"#d62828+#f77f00,#003049"`` → parts, each a list of sRGB colours (the part prints in its
    first colour; the others are merged into it). ``ValueError`` with the reason otherwise."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ValueError("give at least one colour, e.g. #d62828,#ffffff")
    if len(parts) > MAX_COLOURS:
        raise ValueError(f"at most {MAX_COLOURS} colours (parts), got {len(parts)}")
    out: list[list[tuple[int, int, int]]] = []
    for part in parts:
        colours = []
        for item in part.split("+"):
            match = _HEX.match(item.strip())
            if match is None:
                raise ValueError(f"'{item.strip()}' is not a colour like #d62828")
            value = int(match.group(1), 16)
            colours.append((value >> 16, (value >> 8) & 255, value & 255))
        out.append(colours)
    if sum(len(p) for p in out) > MAX_SOURCE_COLOURS:
        raise ValueError(f"at most {MAX_SOURCE_COLOURS} colours in all")
    return out


def reduce_colours(
    rgb: np.ndarray,
    inside: np.ndarray,
    count: int,
    *,
    parts: list[list[tuple[int, int, int]]] | None = None,
    min_region_px: int = 16,
    min_width_px: int = 2,
) -> Palette:
    """The colours of ``rgb`` (h, w, 3 uint8) over ``inside`` (h, w bool) reduced to at most
    ``count`` (or to the given ``parts``, see :func:`parse_palette`); see the module doc. Regions
    of fewer than ``min_region_px`` pixels, and parts of regions narrower than ``min_width_px``,
    take the colours around them."""
    inside = np.asarray(inside, dtype=bool)
    if not inside.any():
        raise ValueError("the region has no pixels")
    count = int(np.clip(count, 1, MAX_COLOURS))
    lut_index = _lut_index(rgb)
    if parts is not None:
        sources = np.array([c for part in parts for c in part], np.uint8)
        owner = np.concatenate([[k] * len(part) for k, part in enumerate(parts)])
        centres = _lab(sources.reshape(-1, 1, 3)).reshape(-1, 3)
        asked = len(parts)
    else:
        centres, owner = _centres(rgb, inside, lut_index, count), None
        asked = count
    lut = _nearest_table(centres)
    labels = lut[lut_index].astype(np.int16)
    if owner is not None:
        labels = owner[labels].astype(np.int16)
    k = asked if owner is not None else len(centres)
    labels = _cleaned(labels, inside, k, min_region_px, min_width_px)

    # Drop colours left with too small a share; their pixels join the regions around them.
    while True:
        counts = np.bincount(labels[inside], minlength=k)
        weak = (counts > 0) & (counts < MIN_SHARE * counts.sum())
        if not weak.any() or np.count_nonzero(counts) <= 1:
            break
        labels = _refilled(labels, inside, np.isin(labels, np.nonzero(weak)[0]))
    counts = np.bincount(labels[inside], minlength=k)
    kept = np.nonzero(counts)[0]
    kept = kept[np.argsort(-counts[kept], kind="stable")]
    remap = np.full(k, -1, np.int16)
    remap[kept] = np.arange(len(kept), dtype=np.int16)
    labels = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1).astype(np.int16)
    if parts is not None:
        colours = np.array([parts[i][0] for i in kept], np.uint8)
    else:
        own, pixels = labels[inside], rgb[inside].astype(np.float64)
        sums = np.stack([np.bincount(own, weights=pixels[:, c], minlength=len(kept)) for c in range(3)], 1)
        colours = np.round(sums / counts[kept][:, None]).astype(np.uint8)
    shares = counts[kept] / counts.sum()
    return Palette(colours.reshape(-1, 3), labels, inside, shares.astype(np.float64), asked)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8) → CIELAB (L in 0–100), OpenCV's D65 conversion."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _lut_index(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's cell in the colour look-up table (:data:`LUT_BITS` bits a channel)."""
    shift = 8 - LUT_BITS
    q = (np.asarray(rgb, dtype=np.uint8) >> shift).astype(np.int32)
    return (q[..., 0] << (2 * LUT_BITS)) | (q[..., 1] << LUT_BITS) | q[..., 2]


def _nearest_table(centres: np.ndarray) -> np.ndarray:
    """For every look-up table cell, the nearest centre (CIELAB)."""
    side = 1 << LUT_BITS
    step = 256 // side
    levels = np.arange(side, dtype=np.uint8) * step + step // 2
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 1, 3)
    lab = _lab(grid).reshape(-1, 3)
    distance = ((lab[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(distance, axis=1).astype(np.int16)


def _centres(rgb: np.ndarray, inside: np.ndarray, lut_index: np.ndarray, count: int) -> np.ndarray:
    """``count`` k-means centres (CIELAB) of the region's colours, near-equal ones merged."""
    cells, weight = np.unique(lut_index[inside], return_counts=True)
    if len(cells) <= count:  # no more colours than asked: each is its own centre
        return _merged_centres(_cell_lab(cells), weight.astype(np.float64))
    pixels = rgb[inside]
    rng = np.random.default_rng(0)
    sample = pixels[rng.choice(len(pixels), size=min(SAMPLES, len(pixels)), replace=False)]
    lab = _lab(sample.reshape(-1, 1, 3)).reshape(-1, 3)
    cv2.setRNGSeed(0)  # k-means++ seeding is random: fixed, the same picture gives the same palette
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.2)
    _, assigned, centres = cv2.kmeans(lab, count, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    weights = np.bincount(assigned.ravel(), minlength=count).astype(np.float64)
    return _merged_centres(centres[weights > 0], weights[weights > 0])


def _cell_lab(cells: np.ndarray) -> np.ndarray:
    side = 1 << LUT_BITS
    step = 256 // side
    rgb = np.column_stack([(cells >> (2 * LUT_BITS)) % side, (cells >> LUT_BITS) % side, cells % side])
    return _lab((rgb * step + step // 2).astype(np.uint8).reshape(-1, 1, 3)).reshape(-1, 3)


def _merged_centres(centres: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Centres closer than :data:`SAME_COLOUR_DELTA_E` merged (weighted), closest pairs first."""
    centres, weights = [c for c in np.asarray(centres, np.float32)], list(weights)
    while len(centres) > 1:
        stack = np.array(centres)
        distance = np.sqrt(((stack[:, None] - stack[None]) ** 2).sum(axis=2))
        np.fill_diagonal(distance, np.inf)
        i, j = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[i, j] >= SAME_COLOUR_DELTA_E:
            break
        total = weights[i] + weights[j]
        centres[i] = (centres[i] * weights[i] + centres[j] * weights[j]) / total
        weights[i] = total
        del centres[j], weights[j]
    return np.array(centres, np.float32)


def _cleaned(
    labels: np.ndarray, inside: np.ndarray, k: int, min_region_px: int, min_width_px: int
) -> np.ndarray:
    """Specks removed by a majority filter; what is narrower than ``min_width_px`` (an anti-aliased
    edge between two colours, a hairline) and regions under ``min_region_px`` refilled from their
    surroundings. The labels reach a few pixels past ``inside`` (so an outline traced from a finer
    coverage is covered up to its edge)."""
    votes = np.empty((k, *labels.shape), np.float32)
    for c in range(k):
        votes[c] = cv2.boxFilter(((labels == c) & inside).astype(np.float32), -1, (MAJORITY_PX, MAJORITY_PX))
    reach = votes.max(axis=0) > 0
    out = np.where(reach, np.argmax(votes, axis=0), -1).astype(np.int16)
    region = reach
    small = np.zeros(labels.shape, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (min_width_px // 2) + 1,) * 2)
    for c in range(k):
        own = (out == c).astype(np.uint8)
        if min_width_px > 1:
            opened = cv2.morphologyEx(own, cv2.MORPH_OPEN, kernel, borderType=cv2.BORDER_REPLICATE)
            small |= (own > 0) & (opened == 0) & inside
            own = opened
        _, parts, stats, _ = cv2.connectedComponentsWithStats(own, connectivity=4)
        tiny = np.nonzero(stats[1:, cv2.CC_STAT_AREA] < min_region_px)[0] + 1
        if len(tiny):
            small |= np.isin(parts, tiny)
    if small.any():
        out = _refilled(out, region, small)
    return out


def _refilled(labels: np.ndarray, region: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """``labels`` with the ``lost`` pixels of ``region`` taking the nearest kept pixel's label."""
    known = region & ~lost
    if not known.any():
        return labels
    rows, cols = np.nonzero(lost)
    top, bottom = max(rows.min() - 64, 0), rows.max() + 65
    left, right = max(cols.min() - 64, 0), cols.max() + 65
    window = (slice(top, bottom), slice(left, right))
    sub_known = known[window]
    if not sub_known.any():  # nothing kept near: look over the whole region
        window, sub_known = (slice(None), slice(None)), known
    _, (ri, ci) = ndimage.distance_transform_edt(~sub_known, return_indices=True)
    out = labels.copy()
    sub = out[window]
    fill = lost[window]
    sub[fill] = sub[ri[fill], ci[fill]]
    return out
