"""Image intake: bytes → normalised 8-bit RGBA, the subject's mask (alpha, neural saliency or
GrabCut, see :mod:`~orfeas.imaging.mask`), and text → image.

The names below are loaded from their modules on first use (``decode``, ``lettering``, ``mask``),
so importing one of them — the lettering options, say — does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orfeas.imaging.decode import (
        DecodedImage,
        decode_grey_png,
        decode_image,
        decode_png,
        encode_grey_png,
        encode_png,
    )
    from orfeas.imaging.lettering import LetteringOptions, checked_text, render_text
    from orfeas.imaging.mask import ForegroundMask, apply_edit, edit_levels, foreground_mask, subject_mask
    from orfeas.imaging.sources import MASK_METHODS, MASK_SOURCES, MaskSource, mask_sources

_HOMES = {
    "DecodedImage": "decode",
    "decode_image": "decode",
    "decode_png": "decode",
    "decode_grey_png": "decode",
    "encode_png": "decode",
    "encode_grey_png": "decode",
    "LetteringOptions": "lettering",
    "checked_text": "lettering",
    "render_text": "lettering",
    "ForegroundMask": "mask",
    "apply_edit": "mask",
    "edit_levels": "mask",
    "foreground_mask": "mask",
    "subject_mask": "mask",
    "MASK_METHODS": "sources",
    "MASK_SOURCES": "sources",
    "MaskSource": "sources",
    "mask_sources": "sources",
}

__all__ = [
    "MASK_METHODS",
    "MASK_SOURCES",
    "DecodedImage",
    "ForegroundMask",
    "LetteringOptions",
    "MaskSource",
    "apply_edit",
    "checked_text",
    "decode_grey_png",
    "decode_image",
    "decode_png",
    "edit_levels",
    "encode_grey_png",
    "encode_png",
    "foreground_mask",
    "mask_sources",
    "render_text",
    "subject_mask",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"orfeas.imaging.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'orfeas.imaging' has no attribute {name!r}")
