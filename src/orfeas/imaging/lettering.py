"""Text → image, offline: Pillow's built-in scalable font or a given font file.

The picture is black glyphs on a transparent background, so the relief engine takes the glyphs
(and the optional border) as the subject through the alpha channel.

What cannot be drawn is refused before anything is typeset, naming the characters: control and
format characters by their Unicode category (DEL, NEL, U+2028, bidi overrides, zero-width
characters), characters the font has no glyph for (its ``cmap``, read with fontTools — the
built-in font covers only ASCII and a little Latin-1), and right-to-left text where Pillow has
no raqm layout to shape and order it. Given the model's size, :func:`render_text` then checks
that the strokes survive (:mod:`orfeas.imaging.strokes`): 200 × "W" at 80 mm would be hairlines.
"""

from __future__ import annotations

import io
import math
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from orfeas.errors import InputRejected
from orfeas.parameters import Parameters
from orfeas.settings import Settings

if TYPE_CHECKING:  # numpy, Pillow and OpenCV load where text is drawn, not where options are read
    import numpy as np
    from PIL import ImageFont

#: Two characters, backslash and n, as typed on a command line: taken as a new line.
ESCAPED_NEWLINE = "\\n"


#: Categories never drawn: controls, line and paragraph separators, surrogates, private use,
#: unassigned code points.
_NEVER = {"Cc", "Zl", "Zp", "Cs", "Co", "Cn"}
#: Format characters (Cf) that only steer the layout and may stay when raqm shapes the text.
_JOINERS = {"\u200c", "\u200d"}  # zero-width non-joiner and joiner (Persian, Indic scripts)
#: Bidi classes of right-to-left scripts (Hebrew, Arabic, Syriac, Thaana …).
_RTL = {"R", "AL"}


class LetteringOptions(Parameters):
    """How text is set before it becomes a relief (the studio builds its lettering form from this)."""

    font_path: Path | None = Field(None, description="A TrueType/OpenType font file; default: built-in.")
    size_px: int = Field(
        160,
        ge=16,
        le=512,
        title="Glyph height",
        description="Glyph height in pixels of the working image.",
        json_schema_extra={"unit": "px", "advanced": True},
    )
    line_spacing: float = Field(
        1.15,
        ge=0.8,
        le=3.0,
        description="Distance between lines, in line heights.",
        json_schema_extra={"advanced": True},
    )
    align: str = Field(
        "center",
        pattern="^(left|center|right)$",
        title="Alignment",
        description="For text on several lines.",
        json_schema_extra={"enum": ["left", "center", "right"]},
    )
    outline_px: int = Field(
        0, ge=0, le=32, title="Outline", description="Thicken the letters.", json_schema_extra={"unit": "px"}
    )
    border_px: int = Field(
        0,
        ge=0,
        le=64,
        title="Border",
        description="A frame around the text (0: none).",
        json_schema_extra={"unit": "px"},
    )
    padding_px: int = Field(
        24,
        ge=0,
        le=256,
        title="Margin",
        description="Room around the text.",
        json_schema_extra={"unit": "px", "advanced": True},
    )

    @field_validator("font_path")
    @classmethod
    def _font_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no font file at {value}")
        return value


def checked_text(text: str, settings: Settings, *, one_line: bool = False) -> str:
    """``text`` as ORFEAS takes it, or :class:`InputRejected` naming what is wrong: not empty, at
    most ``max_text_chars`` characters, no control, separator, private-use or unassigned
    characters and no bidi controls (by Unicode category), something visible. New lines stay
    (``\\r\\n`` becomes ``\\n``) unless ``one_line``, which joins all white space into single
    spaces (a prompt).

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
    banned = [c for c in text if c != "\n" and (unicodedata.category(c) in _NEVER or _is_bidi_control(c))]
    if banned:
        raise InputRejected(
            f"The text contains characters that cannot be used: {_describe(banned)}.",
            code="invalid_parameter",
            field="text",
        )
    if not any(_visible(c) for c in text):
        raise InputRejected(
            f"The text has nothing visible in it (only {_describe(list(text.strip()))}).",
            code="invalid_parameter",
            field="text",
        )
    return text


def render_text(
    text: str,
    options: LetteringOptions,
    settings: Settings,
    *,
    size_mm: float | None = None,
    working_side: int | None = None,
) -> np.ndarray:
    """Typeset ``text`` (``\\n`` for new lines) and return it as 8-bit RGBA.

    Refuses (:class:`InputRejected`, field ``text``) what the font cannot draw, and — given
    ``size_mm``, the model's longest side, and the engine's ``working_side`` — lettering whose
    strokes would be too thin to print or to survive the engine (:func:`check_printable`).
    """
    import numpy as np
    from PIL import Image, ImageDraw

    from orfeas.imaging.strokes import check_printable

    text = checked_text(text, settings)
    font = _load_font(options)
    named = "the built-in font" if options.font_path is None else f"the font {Path(options.font_path).name}"
    check_drawable(text, font, font_name=named)
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
    if size_mm is not None:
        if options.border_px:
            _check_border(options.border_px, rgba.shape[:2], size_mm, working_side)
        check_printable(rgba, size_mm, working_side=working_side)
    return rgba


def _check_border(border_px: int, shape: tuple[int, ...], size_mm: float, working_side: int | None) -> None:
    """The frame is one stroke ``border_px`` wide: name it when it is the part that would not survive."""
    from orfeas.imaging.strokes import MIN_STROKE_MM, MIN_WORKING_PX

    longest = max(shape)
    scale = 1.0 if working_side is None else min(1.0, working_side / longest)
    # +1: MIN_WORKING_PX is in measured widths, which read up to 1 px under the true one; a
    # border's width is known (measured: 4 px frames vanish, 5 px keep 85 %, 6 px 99 %).
    working_px = (MIN_WORKING_PX + 1) / scale if working_side is not None else 0.0
    needed_px = max(working_px, MIN_STROKE_MM * longest / size_mm)
    if border_px < needed_px:
        raise InputRejected(
            f"The border (border_px={border_px}) would be {border_px * size_mm / longest:.2f} mm and "
            f"{border_px * scale:.1f} px wide in the picture the model is built from, too thin to survive; "
            f"use border_px of at least {math.ceil(needed_px)}, or 0 for no border.",
            code="invalid_parameter",
            field="lettering.border_px",
        )


def check_drawable(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, *, font_name: str = "the font"
) -> None:
    """Refuse text the font would draw as missing-glyph boxes (every character must be in its
    ``cmap``), and right-to-left text where there is no raqm layout to shape and order it."""
    from PIL import ImageFont

    covered = _coverage(font)
    shaped = getattr(font, "layout_engine", None) == ImageFont.Layout.RAQM
    missing = [
        c
        for c in dict.fromkeys(text)
        if c != "\n" and ord(c) not in covered and not (shaped and c in _JOINERS)
    ]
    if missing:
        raise InputRejected(
            f"{font_name[0].upper()}{font_name[1:]} cannot draw {_describe(missing)}. "
            f"Leave {'it' if len(missing) == 1 else 'them'} out, or give a font file (font_path) that has "
            f"{'it' if len(missing) == 1 else 'them'}.",
            code="invalid_parameter",
            field="text",
        )
    rtl = [c for c in dict.fromkeys(text) if unicodedata.bidirectional(c) in _RTL]
    if rtl and not shaped:
        raise InputRejected(
            f"Right-to-left text ({_describe(rtl[:3])}) needs Pillow's raqm layout to be set in the "
            "right order and shape; it is not available with this font here.",
            code="invalid_parameter",
            field="text",
        )


def _is_bidi_control(c: str) -> bool:
    """Embeddings, overrides, isolates and marks (LRE … RLO, LRI … PDI, LRM, RLM, ALM)."""
    return unicodedata.bidirectional(c) in {
        "LRE",
        "RLE",
        "LRO",
        "RLO",
        "PDF",
        "LRI",
        "RLI",
        "FSI",
        "PDI",
    } or c in (
        "\u200e",
        "\u200f",
        "\u061c",
    )


def _visible(c: str) -> bool:
    return not (c.isspace() or unicodedata.category(c) in ("Cf", "Mn", "Me") or c in _JOINERS)


def _describe(chars: list[str]) -> str:
    """``'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE), U+0085 (a control character) …``"""
    named = []
    for c in list(dict.fromkeys(chars))[:8]:
        name = unicodedata.name(c, "")
        category = unicodedata.category(c)
        if category in ("Cc", "Cf", "Zl", "Zp", "Zs", "Cs", "Co", "Cn") or not c.isprintable():
            kind = name or {"Cc": "a control character", "Co": "a private-use character"}.get(
                category, "an unassigned code point"
            )
            named.append(f"U+{ord(c):04X} ({kind})")
        else:
            named.append(f"'{c}' (U+{ord(c):04X} {name})".replace(" )", ")"))
    more = len(dict.fromkeys(chars)) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _coverage(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> frozenset[int]:
    """The code points the font has glyphs for."""
    source = getattr(font, "font_bytes", None)
    path = getattr(font, "path", None)
    if isinstance(source, bytes):
        return _cmap_of_bytes(source, getattr(font, "index", 0))
    if isinstance(path, str | Path):
        return _cmap_of_file(str(path), getattr(font, "index", 0))
    return frozenset(range(32, 127))  # Pillow's old bitmap font: ASCII


@lru_cache(maxsize=8)
def _cmap_of_file(path: str, index: int) -> frozenset[int]:
    return _cmap_of_bytes(Path(path).read_bytes(), index)


@lru_cache(maxsize=8)
def _cmap_of_bytes(data: bytes, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont, TTLibError

    try:
        font = TTFont(io.BytesIO(data), fontNumber=index, lazy=True)
        cmap = font.getBestCmap() or {}
    except (TTLibError, OSError, AssertionError, KeyError, ValueError) as exc:
        raise InputRejected("Cannot read the font's character map.", field="font_path") from exc
    return frozenset(cmap)


def _load_font(options: LetteringOptions) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font: the file asked for, or Pillow's built-in scalable one."""
    from PIL import ImageFont

    if options.font_path is not None:
        try:
            return ImageFont.truetype(str(options.font_path), options.size_px)
        except OSError as exc:
            raise InputRejected(f"Cannot read the font file {options.font_path}.", field="font_path") from exc
    return ImageFont.load_default(size=options.size_px)
