"""Decode untrusted image bytes into 8-bit RGBA, with the type sniffed from the content.

Caps on bytes and pixels are checked before the full decode, so a small file that claims to be
30000 × 30000 pixels is rejected from its header alone (a decompression bomb never expands).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(
                io.BytesIO(data), formats=[k for k, v in ACCEPTED_FORMATS.items() if v == kind]
            )
            _check_pixels(image.width, image.height, settings)
            image.seek(0)  # animated images: the first frame
            image.load()
    except InputRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputRejected(
            f"The image is too large to decode safely ({exc}).", code="too_many_pixels"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputRejected(
            f"The {kind.upper()} file is damaged or truncated and cannot be decoded.", code="corrupt"
        ) from exc
    original_mode = image.mode
    has_alpha = _has_alpha(image)
    rgba = _to_rgba8(ImageOps.exif_transpose(image))
    return DecodedImage(rgba=rgba, format=kind, original_mode=original_mode, has_alpha=has_alpha)


def encode_png(rgba: np.ndarray) -> bytes:
    """Encode an RGBA array as PNG (how normalised inputs are stored)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


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


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _to_rgba8(image: Image.Image) -> np.ndarray:
    """Every mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F ...) to 8-bit RGBA."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit and float greyscale: scale the real range to 8 bits instead of clipping at 255.
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and values.min() >= 0 and values.max() <= 65535):
            values = values / 257.0
        else:
            low, high = float(values.min()), float(values.max())
            values = (values - low) / (high - low) * 255.0 if high > low else np.zeros_like(values)
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    if mode == "CMYK":
        image = image.convert("RGB")
    elif mode == "P":
        image = image.convert("RGBA")
    return np.ascontiguousarray(np.asarray(image.convert("RGBA"), dtype=np.uint8))
