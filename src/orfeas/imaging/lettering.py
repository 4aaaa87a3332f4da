"""Text → image, offline: Pillow's built-in scalable font or a given font file.

The picture is black glyphs on a transparent background, so the relief engine takes the glyphs
(and the optional border) as the subject through the alpha channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, Field, field_validator

from orfeas.errors import InputRejected
from orfeas.settings import Settings

#: Two characters, backslash and n, as typed on a command line: taken as a new line.
ESCAPED_NEWLINE = "\\n"


class LetteringOptions(BaseModel):
    """How text is set before it becomes a relief."""

    font_path: Path | None = Field(None, description="A TrueType/OpenType font file; default: built-in.")
    size_px: int = Field(160, ge=16, le=512, description="Glyph height in pixels of the working image.")
    line_spacing: float = Field(1.15, ge=0.8, le=3.0)
    align: str = Field("center", pattern="^(left|center|right)$")
    outline_px: int = Field(0, ge=0, le=32, description="Thicken the glyphs by this many pixels.")
    border_px: int = Field(0, ge=0, le=64, description="A frame around the text, this thick (0: none).")
    padding_px: int = Field(24, ge=0, le=256)

    @field_validator("font_path")
    @classmethod
    def _font_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no font file at {value}")
        return value


def checked_text(text: str, settings: Settings, *, one_line: bool = False) -> str:
    """``text`` as ORFEAS takes it, or :class:`InputRejected`: not empty, at most
    ``max_text_chars`` characters, no control characters. New lines stay (``\\r\\n`` becomes
    ``\\n``) unless ``one_line``, which joins all white space into single spaces (a prompt).

    A backslash followed by ``n`` (what a shell passes for ``--text "AB\\nCD"``, or a form field
    where Enter cannot be typed) is a new line too."""
    text = text.replace(ESCAPED_NEWLINE, "\n")
    text = " ".join(text.split()) if one_line else text.replace("\r\n", "\n").strip("\n")
    if not text.strip():
        raise InputRejected("The text is empty.", code="empty", field="text")
    if len(text) > settings.max_text_chars:
        raise InputRejected(
            f"The text has {len(text)} characters; the limit is {settings.max_text_chars}.",
            code="invalid_parameter",
            field="text",
        )
    if any(ord(c) < 32 and c != "\n" for c in text):
        raise InputRejected("The text contains control characters.", code="invalid_parameter", field="text")
    return text


def render_text(text: str, options: LetteringOptions, settings: Settings) -> np.ndarray:
    """Typeset ``text`` (``\\n`` for new lines) and return it as 8-bit RGBA."""
    text = checked_text(text, settings)
    font = _load_font(options)
    spacing = round(options.size_px * (options.line_spacing - 1.0))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox(
        (0, 0), text, font=font, spacing=spacing, align=options.align, stroke_width=options.outline_px
    )
    pad = options.padding_px + options.border_px
    width, height = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    if width * height > settings.max_image_pixels:
        raise InputRejected("The text is too long to typeset.", code="invalid_parameter", field="text")
    coverage = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(coverage)
    draw.multiline_text(
        (pad - left, pad - top),
        text,
        font=font,
        fill=255,
        spacing=spacing,
        align=options.align,
        stroke_width=options.outline_px,
        stroke_fill=255,
    )
    if options.border_px:
        inset = options.border_px // 2
        draw.rectangle(
            (inset, inset, width - 1 - inset, height - 1 - inset), outline=255, width=options.border_px
        )
    alpha = np.asarray(coverage)
    if not alpha.any():
        raise InputRejected("The font has no visible glyphs for this text.", code="no_subject", field="text")
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    return rgba


def _load_font(options: LetteringOptions) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if options.font_path is not None:
        try:
            return ImageFont.truetype(str(options.font_path), options.size_px)
        except OSError as exc:
            raise InputRejected(f"Cannot read the font file {options.font_path}.", field="font_path") from exc
    return ImageFont.load_default(size=options.size_px)
