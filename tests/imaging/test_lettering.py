"""Text → image, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from orfeas.errors import InputRejected
from orfeas.imaging import LetteringOptions, render_text
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
