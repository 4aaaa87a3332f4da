"""Image intake: bytes → normalised 8-bit RGBA, the subject's foreground mask, and text → image."""

from orfeas.imaging.decode import DecodedImage, decode_image, encode_png
from orfeas.imaging.lettering import LetteringOptions, checked_text, render_text
from orfeas.imaging.mask import ForegroundMask, foreground_mask

__all__ = [
    "DecodedImage",
    "ForegroundMask",
    "LetteringOptions",
    "checked_text",
    "decode_image",
    "encode_png",
    "foreground_mask",
    "render_text",
]
