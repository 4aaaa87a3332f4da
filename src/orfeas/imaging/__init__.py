"""Image intake: bytes → normalised 8-bit RGBA, the subject's foreground mask, and text → image.

The names below are loaded from their modules on first use (``decode``, ``lettering``, ``mask``),
so importing one of them — the lettering options, say — does not load OpenCV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orfeas.imaging.decode import DecodedImage, decode_image, decode_png, encode_png
    from orfeas.imaging.lettering import LetteringOptions, checked_text, render_text
    from orfeas.imaging.mask import ForegroundMask, foreground_mask

_HOMES = {
    "DecodedImage": "decode",
    "decode_image": "decode",
    "decode_png": "decode",
    "encode_png": "decode",
    "LetteringOptions": "lettering",
    "checked_text": "lettering",
    "render_text": "lettering",
    "ForegroundMask": "mask",
    "foreground_mask": "mask",
}

__all__ = [
    "DecodedImage",
    "ForegroundMask",
    "LetteringOptions",
    "checked_text",
    "decode_image",
    "decode_png",
    "encode_png",
    "foreground_mask",
    "render_text",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"orfeas.imaging.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'orfeas.imaging' has no attribute {name!r}")
