"""Decode untrusted image bytes into 8-bit RGBA, with the type sniffed from the content.

Caps on bytes and pixels are checked before the full decode, so a small file that claims to be
30000 × 30000 pixels is rejected from its header alone (a decompression bomb never expands):
Pillow's ``open`` reads only the header of every format taken here (PNG, JPEG, BMP, TIFF's first
directory, GIF's screen and first frame, WebP's canvas), and only the first frame is decoded.

Memory: the picture is decoded straight into the RGBA array that is returned when it is RGB or
RGBA (Pillow keeps both at 4 bytes a pixel), and other modes are converted a strip at a time into
it, so a decode costs the output plus the decoded picture at most — not the three or four full
copies a convert-then-``asarray`` chain makes (measured: 687 MB → about 150 MB for 36 MP).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from orfeas.errors import InputRejected
from orfeas.settings import Settings

#: Formats we accept, by the name Pillow gives them after sniffing the bytes.
ACCEPTED_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}

# Magic numbers of the accepted formats, checked before Pillow sees anything: Pillow also opens
# formats we do not want to expose (EPS, PSD, ICNS ...), and a text file must never reach a parser.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


#: Bytes of a strip converted at a time (of the widest intermediate, float64 grey).
_STRIP_BYTES = 8 << 20


@dataclass(frozen=True)
class DecodedImage:
    """An image normalised to 8-bit RGBA (H, W, 4), upright, with what it was."""

    rgba: np.ndarray
    format: str
    original_mode: str
    has_alpha: bool

    @property
    def width(self) -> int:
        return int(self.rgba.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgba.shape[0])


def sniff_format(data: bytes) -> str | None:
    """The image format named by the leading bytes, or ``None`` when it is not one we take."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_image(data: bytes, settings: Settings) -> DecodedImage:
    """Decode ``data`` to upright 8-bit RGBA or raise :class:`InputRejected` saying why."""
    kind = _checked_kind(data, settings)
    with _decoding(kind):
        image = _open(data, kind, settings)
        image.seek(0)  # animated images: the first frame
        rgba = _decode_still_webp(data) if kind == "webp" and getattr(image, "n_frames", 1) == 1 else None
        if rgba is None:
            rgba = _decode_into_rgba(image)
        if rgba is None:
            image.load()
    original_mode = image.mode
    has_alpha = _has_alpha(image)
    orientation = _orientation(image)
    if rgba is None:
        rgba = _to_rgba8(image)
    image.close()
    return DecodedImage(
        rgba=_upright(rgba, orientation), format=kind, original_mode=original_mode, has_alpha=has_alpha
    )


def image_size(data: bytes, settings: Settings) -> tuple[str, int, int]:
    """(format, width, height) from the header alone, with the byte and pixel caps checked — what
    an admission gate needs to price a decode before it runs. Raises :class:`InputRejected`."""
    kind = _checked_kind(data, settings)
    with _decoding(kind), _open(data, kind, settings) as image:
        return kind, image.width, image.height


def _checked_kind(data: bytes, settings: Settings) -> str:
    """The sniffed format of bytes within the upload cap, or :class:`InputRejected`."""
    if not data:
        raise InputRejected("The file is empty.", code="empty")
    if len(data) > settings.max_upload_bytes:
        raise InputRejected(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {settings.max_upload_bytes / 1e6:.1f} MB.",
            code="too_large",
        )
    kind = sniff_format(data)
    if kind is None:
        raise InputRejected(
            "This file is not an image we can read. Use PNG, JPEG, WebP, BMP, TIFF or GIF.",
            code="unsupported_type",
        )
    return kind


@contextmanager
def _decoding(kind: str) -> Iterator[None]:
    """Whatever a decoder raises on a broken file becomes one ``corrupt`` rejection."""
    try:
        yield
    except InputRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputRejected(
            f"The {kind.upper()} file is damaged or truncated and cannot be decoded.", code="corrupt"
        ) from exc


def _open(data: bytes, kind: str, settings: Settings) -> Image.Image:
    """The image with only its header read, its size checked against the pixel cap."""
    try:
        with warnings.catch_warnings():
            # Our own cap follows from the same header; Pillow's warning would only get in the way.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(
                io.BytesIO(data), formats=[k for k, v in ACCEPTED_FORMATS.items() if v == kind]
            )
    except Image.DecompressionBombError as exc:  # past twice Pillow's own limit: refused by open()
        raise InputRejected(
            f"The image has more than {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP; "
            f"the limit is {settings.max_image_pixels / 1e6:.0f} MP.",
            code="too_many_pixels",
        ) from exc
    _check_pixels(image.width, image.height, settings)
    return image


def encode_png(rgba: np.ndarray) -> bytes:
    """Encode an RGBA array as PNG (how normalised inputs are stored)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def encode_grey_png(grey: np.ndarray) -> bytes:
    """Encode an (H, W) uint8 array as an 8-bit greyscale PNG (masks and mask edits)."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), "L")
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def decode_grey_png(png: bytes) -> np.ndarray:
    """A greyscale PNG :func:`encode_grey_png` wrote (a job's stored mask edit) as an (H, W) uint8 array."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            return np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))
    except (OSError, ValueError) as exc:
        message = "The stored mask edit cannot be read."
        raise InputRejected(message, code="corrupt", field="mask_edit") from exc


def decode_png(png: bytes) -> np.ndarray:
    """A picture :func:`encode_png` wrote (a job's stored input) back as RGBA.

    Stored inputs were checked when they were admitted; a normalised PNG may be larger than the
    upload it came from, so the upload caps do not apply to it again.
    """
    try:
        with Image.open(io.BytesIO(png)) as image:
            return np.ascontiguousarray(np.asarray(image.convert("RGBA"), dtype=np.uint8))
    except (OSError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise InputRejected("The stored picture cannot be read.", code="corrupt") from exc


def _check_pixels(width: int, height: int, settings: Settings) -> None:
    if width < 1 or height < 1:
        raise InputRejected("The image has no pixels.", code="corrupt")
    if width * height > settings.max_image_pixels:
        raise InputRejected(
            f"The image is {width} × {height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {settings.max_image_pixels / 1e6:.0f} MP.",
            code="too_many_pixels",
        )


def _decode_into_rgba(image: Image.Image) -> np.ndarray | None:
    """Decode an RGB or RGBA picture straight into a new (H, W, 4) array, or ``None`` when this
    picture needs the general path (other modes, a transparent colour key, several tiles).

    Pillow stores RGB as 4 bytes a pixel with the fourth at 255, so both decode into an RGBA
    image that maps the array's memory (``Image.frombuffer``); ``load`` decodes into an image it
    was given (``load_prepare`` only allocates when there is none). If a Pillow version ever
    allocates its own, the identity check sends the picture down the general path instead.
    """
    if image.mode not in ("RGB", "RGBA") or "transparency" in image.info or len(image.tile) != 1:
        return None
    out = np.empty((image.height, image.width, 4), dtype=np.uint8)
    target = Image.frombuffer("RGBA", image.size, out, "raw", "RGBA", 0, 1)
    image.im = target.im
    image.load()
    if image.im is not target.im:
        return None
    return out


def _decode_still_webp(data: bytes) -> np.ndarray | None:
    """A still WebP through OpenCV's libwebp, into one array: Pillow reads every WebP with the
    animation decoder, which holds two canvases and a copy besides the picture (16 bytes a pixel)."""
    import cv2  # a core dependency, imported here so the decoder stays light to import

    picture = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if picture is None or picture.ndim != 3 or picture.dtype != np.uint8:
        return None  # let Pillow decode it (and say what is wrong)
    if picture.shape[2] == 4:
        return cv2.cvtColor(picture, cv2.COLOR_BGRA2RGBA, dst=picture)
    out = np.empty((*picture.shape[:2], 4), dtype=np.uint8)
    cv2.cvtColor(picture, cv2.COLOR_BGR2RGBA, dst=out)
    return out


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, struct.error):  # a broken EXIF block: show as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright(rgba: np.ndarray, orientation: int) -> np.ndarray:
    """The picture as it is meant to be seen, by its EXIF orientation (as ``ImageOps.exif_transpose``)."""
    if orientation == 1:
        return rgba
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }[orientation](rgba)
    return np.ascontiguousarray(turned)


def _has_alpha(image: Image.Image) -> bool:
    """An alpha channel, or a transparent palette entry or colour key (P, L, RGB with ``tRNS``)."""
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _to_rgba8(image: Image.Image) -> np.ndarray:
    """Every mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F ...) to 8-bit RGBA, converted a strip
    of rows at a time into the output, so no full-size intermediate copy is ever made."""
    width, height = image.size
    out = np.empty((height, width, 4), dtype=np.uint8)
    convert = _strip_converter(image)
    rows = max(1, _STRIP_BYTES // (16 * width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        out[top:bottom] = convert(image.crop((0, top, width, bottom)))
    return out


def _strip_converter(image: Image.Image) -> Callable[[Image.Image], np.ndarray]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greyscale: scale the real range to 8 bits instead of clipping at 255.
        low, high = (float(v) for v in image.getextrema())  # type: ignore[union-attr]
        if mode.startswith("I;16") or (mode == "I" and low >= 0 and high <= 65535):
            low, scale = 0.0, 1 / 257.0
        else:
            scale = 255.0 / (high - low) if high > low else 0.0

        def grey(strip: Image.Image) -> np.ndarray:
            values = (np.asarray(strip, dtype=np.float64) - low) * scale
            g = np.clip(np.rint(values), 0, 255).astype(np.uint8)
            return np.dstack([g, g, g, np.full_like(g, 255)])

        return grey
    if mode == "CMYK":
        return lambda strip: np.asarray(strip.convert("RGB").convert("RGBA"), dtype=np.uint8)
    return lambda strip: np.asarray(strip.convert("RGBA"), dtype=np.uint8)
