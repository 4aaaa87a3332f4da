"""Outlines: a picture's coverage traced into polygons with holes, in millimetres.

:func:`trace` follows the ``level`` iso-line of a coverage field (an anti-aliased alpha channel,
or a binary mask, which is softened by a fraction of a pixel first so its pixel stairs do not
become the outline). The field is enlarged with bilinear interpolation until its pixels are finer
than the tolerance, the crossing is followed at that resolution and the result simplified
(Ramer–Douglas–Peucker) to ``tolerance_mm``: straight edges become single segments and curves
keep as many vertices as the tolerance needs. Corners stay corners: where two long edges meet
through a few short ones (all that softening leaves of a corner), they are extended to meet.

The contours are filled by the even-odd rule (holes, islands in holes). :func:`cross_section`
makes them a manifold3d :class:`~manifold3d.CrossSection` — the one step every outline-built
object (extruded signs and logos, and later keychains, cutters and per-colour parts) goes through:
it also resolves any self-touching the simplification left.
"""

from __future__ import annotations

import cv2
import manifold3d
import numpy as np

from orfeas.mesh.raster import PixelGrid

#: Largest enlargement of the field before tracing, and the most pixels the enlarged copy may have.
MAX_UPSAMPLE = 16
MAX_TRACE_PIXELS = 6_000_000
#: A corner is restored where edges longer than CORNER_LONG_PX meet through edges shorter than
#: CORNER_SHORT_PX at more than CORNER_DEGREES, moving no point more than CORNER_CUT_PX (pixels).
CORNER_LONG_PX = 4.0
CORNER_SHORT_PX = 1.5
CORNER_CUT_PX = 1.5
CORNER_DEGREES = 45.0
#: A contour enclosing less than this many (original) pixels is dropped as a speck.
MIN_CONTOUR_PIXELS = 2.0


def trace(
    coverage: np.ndarray,
    grid: PixelGrid,
    *,
    tolerance_mm: float = 0.05,
    level: float = 0.5,
    soften: bool | None = None,
) -> list[np.ndarray]:
    """The closed contours (each (n, 2) float64, mm, x right and y up; outer ones counter-clockwise,
    holes clockwise) where ``coverage`` (values in [0, 1] on ``grid``) crosses ``level``.
    ``soften`` (default: when the field is binary) blurs by 0.6 px first, which turns pixel stairs
    into a straight or gently curved line."""
    field = np.asarray(coverage, dtype=np.float32)
    if soften is None:
        soften = bool(np.all((field == 0) | (field == 1)))
    if soften:
        field = cv2.GaussianBlur(field, (0, 0), 0.6)
    h, w = field.shape
    factor = int(np.clip(np.ceil(2.0 * grid.pixel_mm / max(tolerance_mm, 1e-6)), 2, MAX_UPSAMPLE))
    while factor > 1 and (h * factor) * (w * factor) > MAX_TRACE_PIXELS:
        factor -= 1
    padded = np.pad(field, 1)  # so contours along the border close outside the picture
    if factor > 1:
        # Bilinear enlargement about pixel centres: enlarged pixel (r', c') samples the field at
        # ((r' + ½) / f − ½, (c' + ½) / f − ½), the mapping undone below.
        big = cv2.resize(padded, ((w + 2) * factor, (h + 2) * factor), interpolation=cv2.INTER_LINEAR)
    else:
        big = padded
    inside = (big >= level).astype(np.uint8)
    found, _ = cv2.findContours(inside, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    epsilon = tolerance_mm / grid.pixel_mm * factor  # in enlarged pixels
    x0, y0 = grid.origin_mm
    contours = []
    for contour in found:
        if len(contour) < 3:
            continue
        points = contour.reshape(-1, 2).astype(np.float32)
        simple = cv2.approxPolyDP(points.reshape(-1, 1, 2), epsilon, closed=True).reshape(-1, 2)
        simple = _sharpened(simple.astype(np.float64), factor)
        if len(simple) < 3:
            continue
        col = (simple[:, 0].astype(np.float64) + 0.5) / factor - 0.5 - 1.0  # undo the padding
        row = (simple[:, 1].astype(np.float64) + 0.5) / factor - 0.5 - 1.0
        if abs(_area(col, row)) < MIN_CONTOUR_PIXELS:
            continue
        contours.append(np.column_stack([x0 + (col + 0.5) * grid.pixel_mm, y0 - (row + 0.5) * grid.pixel_mm]))
    # findContours walks the centres of the boundary pixels, half an enlarged pixel inside the
    # crossing: move the outline out by that much (miter joins keep the corners).
    outward = 0.5 * grid.pixel_mm / factor
    return contours_of(cross_section(contours).offset(outward, manifold3d.JoinType.Miter))


def cross_section(contours: list[np.ndarray]) -> manifold3d.CrossSection:
    """The contours (even-odd fill) as a manifold3d cross-section: simple, non-overlapping polygons
    with outer boundaries counter-clockwise and holes clockwise."""
    if not contours:
        return manifold3d.CrossSection()
    return manifold3d.CrossSection(
        [np.ascontiguousarray(c, dtype=np.float64) for c in contours], manifold3d.FillRule.EvenOdd
    )


def contours_of(section: manifold3d.CrossSection) -> list[np.ndarray]:
    """A cross-section's polygons as (n, 2) float64 arrays."""
    return [np.asarray(p, dtype=np.float64) for p in section.to_polygons() if len(p) >= 3]


def rasterize(contours: list[np.ndarray], grid: PixelGrid) -> np.ndarray:
    """The pixels of ``grid`` whose centres lie inside the contours (even-odd), exactly: each pixel
    row is cut by the contours' edges and filled between pairs of crossings."""
    out = np.zeros(grid.shape[0] * grid.shape[1], dtype=bool)
    loops = [grid.to_pixels(c) for c in contours if len(c) >= 3]
    if not loops:
        return out.reshape(grid.shape)
    a = np.concatenate(loops)
    b = np.concatenate([np.roll(c, -1, axis=0) for c in loops])
    low, high = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    # Rows r with low <= r < high: a vertex on a row counts once, so every row has pairs.
    first = np.maximum(np.ceil(low), 0).astype(np.int64)
    last = np.minimum(np.ceil(high) - 1, grid.shape[0] - 1).astype(np.int64)
    count = np.maximum(last - first + 1, 0)
    edge = np.repeat(np.arange(len(a)), count)
    row = first[edge] + (np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count))
    t = (row - a[edge, 1]) / (b[edge, 1] - a[edge, 1])
    x = a[edge, 0] + t * (b[edge, 0] - a[edge, 0])
    order = np.lexsort((x, row))
    row, x = row[order], x[order]
    if len(row) % 2:  # only where a contour left the grid's rows: drop the unpaired crossing
        row, x = row[:-1], x[:-1]
    left = np.maximum(np.ceil(x[0::2]), 0).astype(np.int64)
    right = np.minimum(np.floor(x[1::2]), grid.shape[1] - 1).astype(np.int64)
    span = np.maximum(right - left + 1, 0)
    owner = np.repeat(np.arange(len(span)), span)
    col = left[owner] + (np.arange(len(owner)) - np.repeat(np.cumsum(span) - span, span))
    out[row[0::2][owner] * grid.shape[1] + col] = True
    return out.reshape(grid.shape)


def contains(contours: list[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Whether each point (mm) lies inside the contours (even-odd: crossings of a ray along +x)."""
    inside = np.zeros(len(points), dtype=bool)
    for contour in contours:
        a, b = contour, np.roll(contour, -1, axis=0)
        for start in range(0, len(points), 4096):  # bounded memory: points × edges at a time
            p = points[start : start + 4096, None, :]
            straddle = (a[None, :, 1] > p[..., 1]) != (b[None, :, 1] > p[..., 1])
            t = (p[..., 1] - a[None, :, 1]) / np.where(straddle, b[None, :, 1] - a[None, :, 1], 1.0)
            x = a[None, :, 0] + t * (b[None, :, 0] - a[None, :, 0])
            inside[start : start + 4096] ^= (np.count_nonzero(straddle & (x > p[..., 0]), axis=1) % 2).astype(
                bool
            )
    return inside


def densified(contours: list[np.ndarray], max_segment_mm: float) -> list[np.ndarray]:
    """The contours with segments longer than ``max_segment_mm`` split evenly (a height field's
    rim needs vertices close enough for the slope beside it)."""
    out = []
    for contour in contours:
        nxt = np.roll(contour, -1, axis=0)
        pieces = np.maximum(1, np.ceil(np.linalg.norm(nxt - contour, axis=1) / max_segment_mm)).astype(int)
        t = np.concatenate([np.arange(n) / n for n in pieces])
        start = np.repeat(contour, pieces, axis=0)
        out.append(start + (np.repeat(nxt, pieces, axis=0) - start) * t[:, None])
    return out


def rounded_rectangle(low: np.ndarray, high: np.ndarray, radius_mm: float) -> manifold3d.CrossSection:
    """The (x, y) box ``low``–``high`` with its corners rounded to ``radius_mm``."""
    size = np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64)
    radius = float(min(max(radius_mm, 0.0), 0.5 * size.min() - 1e-3))
    if radius <= 0:
        return manifold3d.CrossSection.square(tuple(size)).translate(tuple(low))
    inner = manifold3d.CrossSection.square((float(size[0] - 2 * radius), float(size[1] - 2 * radius)))
    rounded = inner.offset(radius, manifold3d.JoinType.Round, circular_segments=_segments(radius))
    return rounded.translate((float(low[0] + radius), float(low[1] + radius)))


def _sharpened(polygon: np.ndarray, factor: int) -> np.ndarray:
    """Corners restored: where two long edges meet through a few short ones at an angle (what
    softening and averaging leave of a corner), the short ones give way to the long edges' crossing.
    Lengths in enlarged pixels, ``factor`` of them to an original pixel."""
    n = len(polygon)
    if n < 4:
        return polygon
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.linalg.norm(edges, axis=1)
    long = np.nonzero(lengths >= CORNER_LONG_PX * factor)[0]
    if len(long) < 2:
        return polygon
    out = []
    for k, i in enumerate(long):
        j = long[(k + 1) % len(long)]
        run = [
            (i + 1 + m) % n for m in range((j - i) % n or n)
        ]  # vertices from edge i's end to edge j's start
        crossing = _crossing(polygon[i], edges[i], polygon[j], edges[j])
        short = sum(lengths[r] for r in run[:-1]) <= 2 * CORNER_SHORT_PX * factor
        if crossing is not None and short and len(run) >= 1:
            cut = max(np.linalg.norm(polygon[r] - crossing) for r in run)
            if cut <= CORNER_CUT_PX * factor:
                out.append(crossing)
                continue
        out.extend(polygon[r] for r in run)
    return np.asarray(out)


def _crossing(p: np.ndarray, d: np.ndarray, q: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """Where the lines p + s·d and q + t·e cross, if they meet at more than :data:`CORNER_DEGREES`."""
    cross = d[0] * e[1] - d[1] * e[0]
    sine = abs(cross) / max(np.linalg.norm(d) * np.linalg.norm(e), 1e-12)
    if sine < np.sin(np.radians(CORNER_DEGREES)):
        return None
    s = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / cross
    return p + s * d


def _segments(radius_mm: float, tolerance_mm: float = 0.02) -> int:
    """Segments for a full circle of ``radius_mm`` so chords stay within ``tolerance_mm``."""
    if radius_mm <= tolerance_mm:
        return 8
    return int(np.clip(np.ceil(np.pi / np.arccos(1 - tolerance_mm / radius_mm)), 8, 256))


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def bridged(section: manifold3d.CrossSection, width_mm: float) -> tuple[manifold3d.CrossSection, int]:
    """``section`` with its separate pieces joined by straight bars ``width_mm`` wide between their
    nearest points (:func:`spanning_links`), and the number of bars."""
    pieces = section.decompose()
    if len(pieces) <= 1:
        return section, 0
    points = [np.concatenate(densified(contours_of(piece), width_mm / 4)) for piece in pieces]
    bars = [_bar(a, b, width_mm) for a, b in spanning_links(points)]
    return manifold3d.CrossSection.batch_boolean([section, *bars], manifold3d.OpType.Add), len(bars)


def spanning_links(points: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For separate parts, each given by points on its edge: the shortest links — pairs of nearest
    points of two parts — that join them all (a minimum spanning tree)."""
    from scipy.sparse import csgraph
    from scipy.spatial import cKDTree

    trees = [cKDTree(p) for p in points]
    count = len(points)
    distance = np.zeros((count, count))
    ends: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for i in range(count):
        for j in range(i + 1, count):
            gaps, nearest = trees[i].query(points[j])
            k = int(np.argmin(gaps))
            distance[i, j] = max(float(gaps[k]), 1e-6)
            ends[(i, j)] = (points[i][nearest[k]], points[j][k])
    tree = csgraph.minimum_spanning_tree(distance).tocoo()
    return [ends[(min(i, j), max(i, j))] for i, j in zip(tree.row, tree.col, strict=True)]


def _bar(a: np.ndarray, b: np.ndarray, width_mm: float) -> manifold3d.CrossSection:
    """A rectangle ``width_mm`` wide from ``a`` to ``b``, reaching half its width past both ends
    (into the pieces it joins)."""
    along = b - a
    length = float(np.linalg.norm(along))
    d = along / length if length > 1e-9 else np.array([1.0, 0.0])
    n = np.array([-d[1], d[0]]) * width_mm / 2
    start, end = a - d * width_mm / 2, b + d * width_mm / 2
    return manifold3d.CrossSection([np.array([start - n, end - n, end + n, start + n])])
