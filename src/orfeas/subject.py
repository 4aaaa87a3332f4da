"""A picture's subject mask on its own, before any model is built: what ``POST /api/v1/mask``
answers and the studio lays over the picture, so a person sees the cut-out first and can paint
corrections onto it (the edit then travels with the job, see :func:`orfeas.admission.admit`).

The picture is checked exactly like a job's (:func:`orfeas.admission.picture`: type sniffed, byte
and pixel caps from the header) and its mask found as the engines find theirs
(:func:`orfeas.imaging.mask.subject_mask`, on a copy of at most
:data:`~orfeas.imaging.mask.MASK_SIDE` px): the same cascade on the same picture, so an edit
painted over this mask means the same thing to the job. The work is bounded: one decode under
the caps, one network pass and GrabCut at most on the reduced copy (:func:`subject_cost` prices it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from orfeas.admission import picture, picture_cost
from orfeas.errors import EngineUnavailable, InputRejected
from orfeas.imaging import MASK_SOURCES, encode_grey_png
from orfeas.settings import Settings

if TYPE_CHECKING:
    from orfeas.imaging.mask import ForegroundMask

#: Peak bytes of the mask step on its reduced copy (≤ 1024 px), besides the decode: the copy, the
#: network's input, the guided filter's float planes and GrabCut's model (measured with tracemalloc:
#: 82–84 MB for a 1024² photo on the neural and on the GrabCut path; rounded up).
MASK_WORK_BYTES = 96 << 20


@dataclass(frozen=True)
class SubjectMask:
    """The subject of an uploaded picture: the mask (at most MASK_SIDE px, the picture's
    proportions), what made it, and facts about the picture it was found in."""

    found: ForegroundMask
    #: the source asked for (``auto`` … ``none``); ``found.method`` says which one answered
    asked: str
    #: the picture's type (as sniffed) and size, upright (EXIF orientation applied)
    format: str
    width: int
    height: int
    #: whether the picture's alpha channel separates a subject (``alpha`` can answer)
    transparent: bool

    def png(self) -> bytes:
        """The mask as an 8-bit greyscale PNG: white is the subject, black the background."""
        return encode_grey_png(np.where(self.found.mask, 255, 0).astype(np.uint8))

    def summary(self) -> dict[str, Any]:
        """What an answer says besides the mask itself (source, confidence, time, why not)."""
        found = self.found
        height, width = found.mask.shape
        return {
            "source": found.method,
            "asked": self.asked,
            "confidence": round(found.confidence, 3),
            "seconds": round(found.seconds, 3),
            "reason": found.reason or None,
            "coverage": round(found.coverage, 4),
            "width": width,
            "height": height,
            "details": dict(found.details),
            "picture": {
                "format": self.format,
                "width": self.width,
                "height": self.height,
                "transparent": self.transparent,
            },
        }


def find_subject(data: bytes, source: str, settings: Settings) -> SubjectMask:
    """The subject mask of the uploaded picture ``data`` from ``source`` (``auto`` runs the
    cascade). Raises :class:`InputRejected` for a bad source or picture (the field names which) or
    a picture with no subject, and :class:`~orfeas.errors.EngineUnavailable` when ``neural`` is
    asked for and cannot run here."""
    _check_source(source)
    from orfeas.imaging.mask import alpha_is_meaningful, subject_mask  # OpenCV, on first use

    decoded = picture(data, settings)
    try:
        found = subject_mask(decoded.rgba, source, settings)  # type: ignore[arg-type]
    except EngineUnavailable as exc:  # neural asked for, and it cannot run here
        exc.field = "mask"
        raise
    transparent = alpha_is_meaningful(decoded.rgba[..., 3])
    return SubjectMask(found, source, decoded.format, decoded.width, decoded.height, transparent)


def subject_cost(data: bytes, source: str, settings: Settings) -> int:
    """Bytes :func:`find_subject` may take at its peak, from the picture's header alone (a bad
    source, then a picture hostile already in its header, is refused here)."""
    _check_source(source)
    return picture_cost(data, settings) + MASK_WORK_BYTES


def _check_source(source: str) -> None:
    """A source the engines know, refused before any file is looked at."""
    if source not in MASK_SOURCES:
        raise InputRejected(
            f"Parameter 'mask': must be one of {', '.join(MASK_SOURCES)}.",
            code="invalid_parameter",
            field="mask",
        )
