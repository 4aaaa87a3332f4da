"""Image intake: every accepted format and mode becomes upright 8-bit RGBA; everything else is a
typed rejection with a reason code."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from orfeas.errors import InputRejected
from orfeas.imaging import decode_image, encode_png
from orfeas.imaging.decode import image_size, sniff_format
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


# --- issue 16: the header is read first, for every format; decodes take one copy ------------------


def _claiming(fmt: str, width: int, height: int) -> bytes:
    """A small real file of ``fmt`` whose header is patched to claim ``width`` × ``height``."""
    small = Image.fromarray(disc_rgba(16)[..., :3])
    if fmt == "gif-animated":
        frames = [small.convert("P"), Image.new("P", (16, 16), 3)]
        data = bytearray(_encode(frames[0], "GIF", save_all=True, append_images=frames[1:]))
        control = data.rfind(b"\x21\xf9\x04")  # the second frame's graphic control
        assert control > 0 and data[control + 8] == 0x2C  # its image descriptor follows
        struct.pack_into("<HH", data, control + 8 + 5, width, height)
        return bytes(data)
    if fmt == "gif":
        data = bytearray(_encode(small, "GIF"))
        struct.pack_into("<HH", data, 6, width, height)  # the logical screen
        return bytes(data)
    if fmt == "webp-animated":
        frames = [small, Image.new("RGB", (16, 16), (9, 9, 9))]
        data = bytearray(_encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True))
        at = data.find(b"VP8X") + 12  # the canvas: 24-bit width − 1, height − 1
        data[at : at + 3] = (width - 1).to_bytes(3, "little")
        data[at + 3 : at + 6] = (height - 1).to_bytes(3, "little")
        return bytes(data)
    if fmt == "bmp":
        data = bytearray(_encode(small, "BMP"))
        struct.pack_into("<ii", data, 18, width, height)
        return bytes(data)
    if fmt == "jpeg":
        data = bytearray(_encode(small, "JPEG"))
        at = data.find(b"\xff\xc0")
        struct.pack_into(">HH", data, at + 5, height, width)
        return bytes(data)
    if fmt == "tiff":
        entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
                   (273, 4, 8), (277, 3, 1), (278, 4, height), (279, 4, width * height)]  # fmt: skip
        ifd = struct.pack("<H", len(entries)) + b"".join(
            struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries
        )
        return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + b"\0" * 64
    assert fmt == "png"
    return png_claiming(width, height)


@pytest.mark.security
@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "tiff", "gif", "webp-animated"])
def test_every_format_is_priced_and_refused_from_its_header(fmt: str) -> None:
    """9000 × 9000 claimed by a file holding a few hundred bytes of pixels: if a decode were tried
    the answer would be ``corrupt`` (and 324 MB allocated first); it is the header's size."""
    data = _claiming(fmt, 9000, 9000)
    settings = Settings(max_image_pixels=40_000_000)
    with pytest.raises(InputRejected) as caught:
        decode_image(data, settings)
    assert caught.value.code == "too_many_pixels" and "9000 × 9000" in caught.value.message
    assert "the limit is 40 MP" in caught.value.message
    within = Settings(max_image_pixels=100_000_000)
    assert image_size(data, within)[1:] == (9000, 9000)


@pytest.mark.security
def test_an_animated_gif_is_decoded_from_its_first_frame_only() -> None:
    """The second frame claims 65535 × 65535; only the first is ever decoded."""
    decoded = decode_image(_claiming("gif-animated", 65535, 65535), DEFAULTS)
    assert decoded.rgba.shape == (16, 16, 4)


@pytest.mark.security
def test_pillows_own_bomb_limit_is_reported_as_our_cap() -> None:
    with pytest.raises(InputRejected) as caught:
        decode_image(png_claiming(60000, 60000), Settings(max_image_pixels=40_000_000))
    assert caught.value.code == "too_many_pixels"
    assert "the limit is 40 MP" in caught.value.message and "DecompressionBomb" not in caught.value.message


@pytest.mark.unit
@pytest.mark.parametrize(
    ("fmt", "mode"),
    [(f, m) for f in ("PNG", "WEBP", "TIFF") for m in ("RGB", "RGBA")] + [("JPEG", "RGB")],
)
def test_direct_decodes_match_pillows_conversion(fmt: str, mode: str) -> None:
    rng = np.random.default_rng(5)
    picture = Image.fromarray(rng.integers(0, 256, (40, 56, len(mode)), dtype=np.uint8), mode)
    data = _encode(picture, fmt)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert np.array_equal(decode_image(data, DEFAULTS).rgba, expected)


@pytest.mark.unit
def test_rgb_with_a_transparent_colour_key_keeps_its_transparency() -> None:
    picture = np.full((20, 20, 3), 255, np.uint8)
    picture[5:15, 5:15] = (10, 20, 30)
    decoded = decode_image(_encode(Image.fromarray(picture), "PNG", transparency=(255, 255, 255)), DEFAULTS)
    assert decoded.has_alpha and decoded.rgba[0, 0, 3] == 0 and decoded.rgba[10, 10, 3] == 255


@pytest.mark.unit
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_transpose(orientation: int) -> None:
    from PIL import ImageOps

    picture = Image.fromarray(np.random.default_rng(orientation).integers(0, 256, (12, 20, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(picture, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGBA"))
    assert np.array_equal(decode_image(data, DEFAULTS).rgba, expected)
