"""Text → image, offline."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ImageFont

from orfeas.errors import InputRejected
from orfeas.imaging import LetteringOptions, render_text
from orfeas.imaging.strokes import check_printable, stroke_widths
from orfeas.settings import Settings
from tests.conftest import require

DEFAULTS = Settings()


@pytest.mark.unit
def test_text_becomes_glyphs_on_transparent_background() -> None:
    rgba = render_text("HELLO", LetteringOptions(), DEFAULTS)
    assert rgba.shape[2] == 4 and rgba[..., 3].max() == 255 and rgba[0, 0, 3] == 0
    assert rgba.shape[1] > rgba.shape[0]


@pytest.mark.unit
def test_multiline_is_taller_and_border_frames_it() -> None:
    one, two = (
        render_text("AB", LetteringOptions(), DEFAULTS),
        render_text("AB\nCD", LetteringOptions(), DEFAULTS),
    )
    assert two.shape[0] > one.shape[0] * 1.6
    framed = render_text("AB", LetteringOptions(border_px=8), DEFAULTS)
    assert framed[4, framed.shape[1] // 2, 3] == 255


@pytest.mark.unit
def test_outline_thickens_glyphs() -> None:
    thin = (render_text("I", LetteringOptions(), DEFAULTS)[..., 3] > 0).sum()
    thick = (render_text("I", LetteringOptions(outline_px=6), DEFAULTS)[..., 3] > 0).sum()
    assert thick > thin * 1.3


@pytest.mark.unit
def test_font_file_is_used() -> None:
    font_file = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
    require(font_file.is_file(), "Debian's fonts-dejavu-core is not installed")
    built_in = render_text("Hi", LetteringOptions(size_px=40), DEFAULTS)
    dejavu = render_text("Hi", LetteringOptions(font_path=font_file, size_px=40), DEFAULTS)
    assert dejavu[..., 3].any() and dejavu.shape != built_in.shape


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "code"), [("", "empty"), ("   \n ", "empty"), ("a\x00b", "invalid_parameter")]
)
def test_bad_text_is_rejected(text: str, code: str) -> None:
    with pytest.raises(InputRejected) as caught:
        render_text(text, LetteringOptions(), DEFAULTS)
    assert caught.value.code == code and caught.value.field == "text"


@pytest.mark.unit
def test_text_length_cap() -> None:
    with pytest.raises(InputRejected):
        render_text("x" * 50, LetteringOptions(), Settings(max_text_chars=10))


@pytest.mark.unit
def test_missing_font_file_is_a_validation_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="no font file"):
        LetteringOptions(font_path=tmp_path / "nope.ttf")


# --- issue 16, defect 7: text that cannot be drawn is refused, naming the characters -------------

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.mark.security
@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("a\x7fb", "U+007F"),  # DEL
        ("a\x85b", "U+0085"),  # NEL
        ("one\u2028two", "U+2028 (LINE SEPARATOR)"),
        ("one\u2029two", "U+2029 (PARAGRAPH SEPARATOR)"),
        ("\u202eevil", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("left\u2066isolate\u2069", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        ("mark\u200f", "U+200F (RIGHT-TO-LEFT MARK)"),
        ("private\ue000", "U+E000 (a private-use character)"),
        ("\u200b\u200b\u200b", "U+200B (ZERO WIDTH SPACE)"),
    ],
    ids=["del", "nel", "u2028", "u2029", "rlo", "isolate", "rlm", "private-use", "zero-width-only"],
)
def test_control_and_format_characters_are_refused_by_category(text: str, named: str) -> None:
    with pytest.raises(InputRejected) as caught:
        render_text(text, LetteringOptions(), DEFAULTS)
    assert caught.value.code == "invalid_parameter" and caught.value.field == "text"
    assert named in caught.value.message


@pytest.mark.security
@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("smile 😀", "'😀' (U+1F600 GRINNING FACE)"),
        ("مرحبا", "'م' (U+0645 ARABIC LETTER MEEM)"),
        ("Café", "'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)"),
        ("ΟΡΦΕΑΣ", "'Ο' (U+039F GREEK CAPITAL LETTER OMICRON)"),
        ("soft\u00adhyphen", "U+00AD (SOFT HYPHEN)"),
    ],
)
def test_characters_the_font_has_no_glyph_for_are_named(text: str, named: str) -> None:
    with pytest.raises(InputRejected) as caught:
        render_text(text, LetteringOptions(), DEFAULTS)
    assert caught.value.code == "invalid_parameter" and caught.value.field == "text"
    assert "built-in font cannot draw" in caught.value.message and named in caught.value.message
    assert "font_path" in caught.value.message  # says how to fix it


@pytest.mark.unit
def test_a_font_that_has_the_glyphs_draws_them_and_bidi_text_is_shaped() -> None:
    require(DEJAVU.is_file(), "Debian's fonts-dejavu-core is not installed")
    options = LetteringOptions(font_path=DEJAVU, size_px=64)
    assert render_text("Café ΟΡΦΕΑΣ", options, DEFAULTS)[..., 3].any()
    with pytest.raises(InputRejected, match=r"The font DejaVuSans.ttf cannot draw '漢' \(U\+6F22"):
        render_text("漢字", options, DEFAULTS)
    # Hebrew is laid right to left: the first letter (alef) is found in the right half.
    word = render_text("אב", options, DEFAULTS)[..., 3]
    alef = render_text("א", options, DEFAULTS)[..., 3]
    rows, cols = np.nonzero(alef)
    glyph = alef[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scores = cv2.matchTemplate(word.astype(np.float32), glyph.astype(np.float32), cv2.TM_CCOEFF_NORMED)
    assert np.unravel_index(scores.argmax(), scores.shape)[1] > word.shape[1] / 2 - glyph.shape[1] / 2
    # Arabic is shaped (joined forms), not drawn as isolated letters left to right.
    shaped = render_text("مرحبا", options, DEFAULTS)[..., 3]
    basic_font = ImageFont.truetype(str(DEJAVU), 64, layout_engine=ImageFont.Layout.BASIC)
    box = basic_font.getbbox("مرحبا")
    assert shaped.shape[1] - 2 * options.padding_px != box[2] - box[0]


@pytest.mark.unit
def test_stroke_widths_are_measured_from_the_picture() -> None:
    for width in (6, 11, 24):
        rgba = np.zeros((200, 900, 4), np.uint8)
        cv2.rectangle(rgba, (20, 50), (880, 50 + width - 1), (0, 0, 0, 255), -1)
        cv2.circle(rgba, (450, 140), 40, (0, 0, 0, 255), width)
        strokes = stroke_widths(rgba, size_mm=86.1)
        assert strokes.thinnest_px == pytest.approx(width, abs=1.01)
        assert strokes.thinnest_mm == pytest.approx(width * 86.1 / 861, rel=0.2)


@pytest.mark.security
@pytest.mark.parametrize(
    ("text", "size_mm", "fix"),
    [
        ("W" * 200, 80, "too many lines"),
        ("a\n" * 19 + "a", 80, "too many lines"),
        ("W" * 20, 80, "too many lines"),
        ("W" * 8, 40, "a size of at least 56 mm"),
    ],
    ids=["200-W", "20-lines", "20-W", "8-W-at-40mm"],
)
def test_lettering_too_thin_to_print_is_refused_saying_how_to_fix_it(
    text: str, size_mm: float, fix: str
) -> None:
    with pytest.raises(InputRejected) as caught:
        render_text(text, LetteringOptions(), DEFAULTS, size_mm=size_mm, working_side=768)
    message = caught.value.message
    assert caught.value.code == "invalid_parameter" and caught.value.field == "text"
    assert fix in message and "shorter text or fewer lines" in message


@pytest.mark.unit
def test_the_size_that_would_print_is_suggested_and_is_enough() -> None:
    rgba = render_text("W" * 20, LetteringOptions(), DEFAULTS)
    with pytest.raises(InputRejected) as caught:
        check_printable(rgba, 80)  # 0.29 mm strokes
    needed = float(caught.value.message.split("a size of at least ")[1].split(" mm")[0])
    assert check_printable(rgba, needed).printable
    assert render_text("ORFEAS", LetteringOptions(), DEFAULTS, size_mm=80, working_side=768).any()
    assert render_text("ORFEAS SCALE OUT", LetteringOptions(), DEFAULTS, size_mm=80, working_side=768).any()


@pytest.mark.unit
def test_a_border_too_thin_to_survive_is_named_with_the_width_that_would() -> None:
    """A 4 px frame vanishes in the relief engine's mask cleanup (the model keeps 64 % of the
    picture), 5 px keeps 85 %, 6 px 99 %."""
    with pytest.raises(InputRejected) as caught:
        render_text("HI", LetteringOptions(border_px=4), DEFAULTS, size_mm=80, working_side=768)
    assert caught.value.field == "lettering.border_px" and "at least 6" in caught.value.message
    assert render_text("HI", LetteringOptions(border_px=6), DEFAULTS, size_mm=80, working_side=768).any()
