"""Image intake: bytes → normalised 8-bit RGBA, the subject's mask (alpha, neural saliency or
GrabCut, see :mod:`~orfeas.imaging.mask`), and text → image."""

from orfeas.imaging.decode import DecodedImage, decode_image, encode_png
from orfeas.imaging.lettering import LetteringOptions, checked_text, render_text
from orfeas.imaging.mask import (
    MASK_SOURCES,
    ForegroundMask,
    MaskSource,
    apply_edit,
    foreground_mask,
    mask_sources,
    subject_mask,
)

__all__ = [
    "MASK_SOURCES",
    "DecodedImage",
    "ForegroundMask",
    "LetteringOptions",
    "MaskSource",
    "apply_edit",
    "checked_text",
    "decode_image",
    "encode_png",
    "foreground_mask",
    "mask_sources",
    "render_text",
    "subject_mask",
]
