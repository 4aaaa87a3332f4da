"""Whether typeset strokes survive: at the model's size (a printer's thinnest line) and in the
working copy an engine builds from (its mask cleanup erases thinner strokes).

A stroke's width is measured from the picture itself — twice the distance from its middle line
to its edge, on the distance transform's ridge — so any font, outline or border is judged by
what was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from orfeas.errors import InputRejected

#: The thinnest stroke refused below: a 0.4 mm nozzle's single line, with a margin. Thinner
#: strokes do not print at all; the printability report scores walls against 0.8 mm (two lines),
#: and a refusal at 0.8 would turn away a 16-character plate at the default 80 mm (0.63 mm).
MIN_STROKE_MM = 0.5
#: The thinnest stroke that survives in an engine's working copy of the picture. The relief
#: engine finds the subject on a 768 px copy and opens the mask with a 5 px disc; measured on
#: rows of "W": strokes of 4.5 px keep 90 % of the lettering (IoU), 3.9 px keep 39 %, 3.4 px none
#: ("No subject could be found").
MIN_WORKING_PX = 4.5


@dataclass(frozen=True)
class Strokes:
    """How thin the typeset strokes are: in picture pixels, at the model's size, and in the
    engine's working copy (``working_px``; ``None`` when no working size was given)."""

    thinnest_px: float
    thinnest_mm: float
    size_mm: float
    min_mm: float
    working_px: float | None = None

    @property
    def printable(self) -> bool:
        return self.thinnest_mm >= self.min_mm and self.resolvable

    @property
    def resolvable(self) -> bool:
        """The strokes survive the engine's working copy (its mask cleanup erases thinner ones)."""
        return self.working_px is None or self.working_px >= MIN_WORKING_PX

    def size_needed_mm(self) -> float:
        """The longest side at which the thinnest strokes reach ``min_mm``."""
        return self.size_mm * self.min_mm / max(self.thinnest_mm, 1e-9)


def stroke_widths(
    rgba: np.ndarray, size_mm: float, min_mm: float = MIN_STROKE_MM, *, working_side: int | None = None
) -> Strokes:
    """The thinnest strokes of typeset lettering (its alpha) when its longest side is ``size_mm``,
    and in an engine's working copy whose longest side is ``working_side`` pixels.

    A stroke's width is twice the distance from its middle line to its edge: the distance
    transform's ridge (cells at least as far from the edge as their 8 neighbours). The thinnest
    strokes are the ridge's 10th percentile, so a few noisy ridge cells at corners do not count.
    """
    ink = (rgba[..., 3] >= 128).astype(np.uint8)
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return Strokes(0.0, 0.0, size_mm, min_mm)
    ink = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    distance = cv2.distanceTransform(np.pad(ink, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ridge = (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))) & (distance > 0)
    thinnest_px = max(0.0, 2.0 * float(np.percentile(distance[ridge], 10)) - 1.0)
    mm_per_px = size_mm / max(ink.shape)
    working = None if working_side is None else thinnest_px * min(1.0, working_side / max(rgba.shape[:2]))
    return Strokes(thinnest_px, thinnest_px * mm_per_px, size_mm, min_mm, working)


def check_printable(
    rgba: np.ndarray, size_mm: float, min_mm: float = MIN_STROKE_MM, *, working_side: int | None = None
) -> Strokes:
    """:func:`stroke_widths`, or :class:`InputRejected` (field ``text``) saying how to fix
    lettering whose thinnest strokes would be thinner than ``min_mm`` at ``size_mm``, or would
    vanish in a working copy of ``working_side`` pixels (a long line, or many lines)."""
    strokes = stroke_widths(rgba, size_mm, min_mm, working_side=working_side)
    if not strokes.resolvable:
        raise InputRejected(
            "The lettering is too long or has too many lines: its strokes would be "
            f"{strokes.working_px:.1f} px wide in the {working_side} px picture the model is built from, "
            f"and at least {MIN_WORKING_PX:g} px are needed. Use a shorter text or fewer lines "
            "(a long line can be split into two or three).",
            code="invalid_parameter",
            field="text",
        )
    if not strokes.printable:
        raise InputRejected(
            f"At {size_mm:g} mm across, the lettering's thinnest strokes would be "
            f"{strokes.thinnest_mm:.2f} mm wide; a printer needs at least {min_mm:g} mm. Use a shorter "
            f"text or fewer lines, or a size of at least {np.ceil(strokes.size_needed_mm()):.0f} mm.",
            code="invalid_parameter",
            field="text",
        )
    return strokes
