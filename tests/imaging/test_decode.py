"""Image intake: every accepted format and mode becomes upright 8-bit RGBA; everything else is a
typed rejection with a reason code."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orfeas.errors import InputRejected
from orfeas.imaging import decode_image, encode_png
from orfeas.imaging.decode import sniff_format
from orfeas.settings import Settings
from tests.conftest import disc_rgba, photo_like, png_bytes, png_claiming

DEFAULTS = Settings()


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.unit
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_each_format_is_sniffed_from_content(fmt: str) -> None:
    image = Image.fromarray(disc_rgba(64)[..., :3])
    decoded = decode_image(_encode(image, fmt), DEFAULTS)
    assert (
        decoded.format
        == {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}[fmt]
    )
    assert decoded.rgba.shape == (64, 64, 4) and decoded.rgba.dtype == np.uint8


def _in_mode(mode: str) -> Image.Image:
    """A bright disc on a dark background, stored in ``mode``."""
    grey = disc_rgba(32, (250, 250, 250))[..., 0]
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(grey.astype(np.int32) * 257)
    if mode == "F":
        return Image.fromarray(grey.astype(np.float32) / 255.0)
    return Image.fromarray(disc_rgba(32, (250, 250, 250))).convert(mode)


@pytest.mark.unit
@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "L", "1", "P", "CMYK", "I;16", "I", "F"])
def test_every_mode_becomes_rgba8(mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else "TIFF" if mode in ("I", "F") else "PNG"
    decoded = decode_image(_encode(_in_mode(mode), fmt), DEFAULTS)
    assert decoded.rgba.shape == (32, 32, 4)
    assert decoded.rgba.dtype == np.uint8
    # The disc stays brighter than the background whatever the storage mode.
    assert decoded.rgba[16, 16, :3].mean() > decoded.rgba[1, 1, :3].mean() + 100


@pytest.mark.unit
def test_sixteen_bit_png_keeps_its_range() -> None:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    decoded = decode_image(_encode(Image.fromarray(ramp), "PNG"), DEFAULTS)
    assert decoded.rgba[0, 0, 0] == 0 and decoded.rgba[-1, -1, 0] == 255
    assert 120 <= decoded.rgba[32, 0, 0] <= 135


@pytest.mark.unit
def test_cmyk_jpeg_colours_are_right() -> None:
    red = Image.new("RGB", (32, 32), (220, 30, 30)).convert("CMYK")
    rgba = decode_image(_encode(red, "JPEG", quality=95), DEFAULTS).rgba
    r, g, b = rgba[16, 16, :3].astype(int)
    assert r > 180 and g < 80 and b < 80


@pytest.mark.unit
def test_palette_transparency_becomes_alpha() -> None:
    image = Image.fromarray(disc_rgba(32)).convert("RGBA").quantize(colors=8)
    image.info["transparency"] = int(np.asarray(image)[0, 0])
    decoded = decode_image(_encode(image, "PNG", transparency=int(np.asarray(image)[0, 0])), DEFAULTS)
    assert decoded.has_alpha and decoded.rgba[0, 0, 3] == 0 and decoded.rgba[16, 16, 3] == 255


@pytest.mark.unit
def test_exif_orientation_is_applied() -> None:
    wide = Image.fromarray(np.zeros((20, 60, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(_encode(wide, "JPEG", exif=exif), DEFAULTS)
    assert (decoded.height, decoded.width) == (60, 20)


@pytest.mark.unit
def test_animated_gif_uses_first_frame() -> None:
    frames = [Image.new("L", (16, 16), v) for v in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue(), DEFAULTS)
    assert decoded.rgba[8, 8, 0] < 50


@pytest.mark.unit
def test_encode_png_round_trips() -> None:
    rgba = disc_rgba(40)
    assert np.array_equal(decode_image(encode_png(rgba), DEFAULTS).rgba, rgba)


@pytest.mark.security
@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (png_bytes(disc_rgba(64))[:200], "corrupt"),
        (b"hello, I am a text file pretending to be a PNG\n", "unsupported_type"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="5"/></svg>', "unsupported_type"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "unsupported_type"),
        (png_claiming(30000, 30000), "too_many_pixels"),
        (png_claiming(8000, 8000), "too_many_pixels"),
    ],
    ids=["zero-bytes", "truncated-png", "text-as-png", "svg", "eps", "bomb-30000", "over-pixel-cap"],
)
def test_hostile_input_is_a_typed_rejection(data: bytes, code: str) -> None:
    with pytest.raises(InputRejected) as caught:
        decode_image(data, Settings(max_image_pixels=40_000_000))
    assert caught.value.code == code
    assert caught.value.message and caught.value.message[0].isupper()


@pytest.mark.security
def test_byte_cap_is_checked_first() -> None:
    with pytest.raises(InputRejected) as caught:
        decode_image(png_bytes(photo_like(128)), Settings(max_upload_bytes=1024))
    assert caught.value.code == "too_large"


@pytest.mark.unit
def test_sniffing_ignores_names_and_knows_webp() -> None:
    assert sniff_format(b"RIFF\0\0\0\0WEBPVP8 ") == "webp"
    assert sniff_format(b"GIF89a...") == "gif"
    assert sniff_format(b"<html>") is None
