"""The pictures makers really bring, made by the tests themselves (no downloaded data).

:data:`PICTURES` maps a name to a function returning PNG bytes — flat-colour logos with thick
outlines, pictograms (light glyphs on a dark rounded square), thin-line art, pictures of several
separate parts, 60–150 px icons, palette PNGs with transparency, grey + alpha (LA) PNGs and
emoji-like pictures — and :data:`TEXTS` maps a name to a typeset text: the built-in font and two
TrueType fonts from Debian's packages (``fonts-dejavu-core``, ``fonts-liberation``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import orfeas

#: Debian's TrueType fonts the text corpus uses (scripts/apt-packages.txt installs them).
DEJAVU_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
LIBERATION_SERIF = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _rgba(size: int | tuple[int, int]) -> np.ndarray:
    w, h = (size, size) if isinstance(size, int) else size
    return np.zeros((h, w, 4), np.uint8)


def _smooth(draw: Callable[[np.ndarray, int], None], size: int, scale: int = 4) -> np.ndarray:
    """Draw at ``scale`` × the size and shrink: anti-aliased edges, as exported artwork has."""
    big = _rgba(size * scale)
    draw(big, scale)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def _rounded_square(
    image: np.ndarray, box: tuple[int, int, int, int], radius: int, colour: tuple[int, ...]
) -> None:
    x0, y0, x1, y1 = box
    cv2.rectangle(image, (x0 + radius, y0), (x1 - radius, y1), colour, -1)
    cv2.rectangle(image, (x0, y0 + radius), (x1, y1 - radius), colour, -1)
    for cx, cy in (
        (x0 + radius, y0 + radius),
        (x1 - radius, y0 + radius),
        (x0 + radius, y1 - radius),
        (x1 - radius, y1 - radius),
    ):
        cv2.circle(image, (cx, cy), radius, colour, -1, lineType=cv2.LINE_AA)


def logo_badge() -> bytes:
    """A flat-colour shield with a thick dark outline and a star inside, on transparency."""

    def draw(im: np.ndarray, s: int) -> None:
        shield = np.array([[40, 30], [216, 30], [216, 130], [128, 230], [40, 130]]) * s
        cv2.fillPoly(im, [shield], (30, 30, 40, 255), lineType=cv2.LINE_AA)
        inner = np.array([[56, 46], [200, 46], [200, 124], [128, 208], [56, 124]]) * s
        cv2.fillPoly(im, [inner], (30, 110, 200, 255), lineType=cv2.LINE_AA)
        angles = np.linspace(0, 2 * np.pi, 11)[:-1] - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 48, 20)
        star = np.column_stack([128 + radii * np.cos(angles), 112 + radii * np.sin(angles)]) * s
        cv2.fillPoly(im, [star.astype(np.int32)], (250, 210, 40, 255), lineType=cv2.LINE_AA)

    return _png(Image.fromarray(_smooth(draw, 256), "RGBA"))


def logo_ring() -> bytes:
    """A ring logo with a thick outline and a bar through it (holes and islands)."""

    def draw(im: np.ndarray, s: int) -> None:
        cv2.circle(im, (150 * s, 150 * s), 120 * s, (20, 20, 20, 255), -1, lineType=cv2.LINE_AA)
        cv2.circle(im, (150 * s, 150 * s), 100 * s, (220, 60, 40, 255), -1, lineType=cv2.LINE_AA)
        cv2.circle(im, (150 * s, 150 * s), 60 * s, (0, 0, 0, 0), -1, lineType=cv2.LINE_AA)
        cv2.rectangle(im, (60 * s, 135 * s), (240 * s, 165 * s), (20, 20, 20, 255), -1)

    return _png(Image.fromarray(_smooth(draw, 300), "RGBA"))


def pictogram() -> bytes:
    """White glyphs (a house and a sun) on a black rounded square, on transparency."""

    def draw(im: np.ndarray, s: int) -> None:
        _rounded_square(im, (16 * s, 16 * s, 240 * s, 240 * s), 40 * s, (15, 15, 15, 255))
        house = np.array([[64, 140], [128, 80], [192, 140], [176, 140], [176, 200], [80, 200], [80, 140]]) * s
        cv2.fillPoly(im, [house], (250, 250, 250, 255), lineType=cv2.LINE_AA)
        cv2.rectangle(im, (116 * s, 160 * s), (140 * s, 200 * s), (15, 15, 15, 255), -1)
        cv2.circle(im, (190 * s, 66 * s), 18 * s, (250, 250, 250, 255), -1, lineType=cv2.LINE_AA)

    return _png(Image.fromarray(_smooth(draw, 256), "RGBA"))


def line_art() -> bytes:
    """Thin-line art: a spiral and a zig-zag, lines 5 px wide, on transparency."""

    def draw(im: np.ndarray, s: int) -> None:
        t = np.linspace(0, 5 * np.pi, 400)
        spiral = np.column_stack([150 + 9 * t * np.cos(t), 140 + 9 * t * np.sin(t)]) * s
        cv2.polylines(im, [spiral.astype(np.int32)], False, (40, 40, 40, 255), 5 * s, lineType=cv2.LINE_AA)
        zig = np.array([[40, 280], [80, 250], [120, 280], [160, 250], [200, 280], [240, 250]]) * s
        cv2.polylines(im, [zig], False, (40, 40, 40, 255), 5 * s, lineType=cv2.LINE_AA)
        cv2.line(im, (150 * s, 140 * s), (40 * s, 265 * s), (40, 40, 40, 255), 5 * s, lineType=cv2.LINE_AA)

    return _png(Image.fromarray(_smooth(draw, 300), "RGBA"))


def separate_parts() -> bytes:
    """Four parts that do not touch: a heart, two dots and a bar."""

    def draw(im: np.ndarray, s: int) -> None:
        t = np.linspace(0, 2 * np.pi, 200)
        heart = np.column_stack(
            [16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))]
        )
        cv2.fillPoly(
            im, [((heart * 5 + [110, 120]) * s).astype(np.int32)], (200, 30, 60, 255), lineType=cv2.LINE_AA
        )
        cv2.circle(im, (230 * s, 70 * s), 24 * s, (40, 120, 220, 255), -1, lineType=cv2.LINE_AA)
        cv2.circle(im, (240 * s, 170 * s), 16 * s, (40, 160, 80, 255), -1, lineType=cv2.LINE_AA)
        cv2.rectangle(im, (40 * s, 230 * s), (260 * s, 256 * s), (90, 60, 30, 255), -1)

    return _png(Image.fromarray(_smooth(draw, 290), "RGBA"))


def icon(size: int) -> Callable[[], bytes]:
    """A small app icon (a rounded square with a check mark) of ``size`` px, as it is downloaded."""

    def make() -> bytes:
        def draw(im: np.ndarray, s: int) -> None:
            k = size / 100
            _rounded_square(
                im,
                (int(4 * k * s), int(4 * k * s), int(96 * k * s), int(96 * k * s)),
                int(18 * k * s),
                (30, 150, 90, 255),
            )
            check = (np.array([[24, 52], [42, 70], [76, 32]]) * k * s).astype(np.int32)
            cv2.polylines(
                im, [check], False, (255, 255, 255, 255), max(2, int(11 * k * s)), lineType=cv2.LINE_AA
            )

        return _png(Image.fromarray(_smooth(draw, size, 8), "RGBA"))

    return make


def palette_with_transparency() -> bytes:
    """A palette ("P") PNG with a transparent index: a cartoon cloud in four colours."""
    pixels = np.zeros((140, 200), np.uint8)
    for cx, cy, r in ((60, 85, 38), (105, 60, 45), (150, 85, 36), (100, 95, 40)):
        cv2.circle(pixels, (cx, cy), r, 3, -1)
        cv2.circle(pixels, (cx, cy), r - 6, 1, -1)
    cv2.circle(pixels, (90, 80), 6, 3, -1)
    cv2.circle(pixels, (125, 80), 6, 3, -1)
    image = Image.fromarray(pixels, "P")
    image.putpalette([0, 0, 0, 250, 250, 250, 120, 170, 230, 60, 60, 80] + [0] * (256 * 3 - 12))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    return buffer.getvalue()


def grey_alpha() -> bytes:
    """A grey + alpha ("LA") PNG: a dark cat's head silhouette with lighter eyes."""

    def draw(im: np.ndarray, s: int) -> None:
        cv2.circle(im, (128 * s, 140 * s), 80 * s, (60, 60, 60, 255), -1, lineType=cv2.LINE_AA)
        for side in (-1, 1):
            ear = np.array([[128 + side * 30, 80], [128 + side * 85, 30], [128 + side * 78, 120]]) * s
            cv2.fillPoly(im, [ear], (60, 60, 60, 255), lineType=cv2.LINE_AA)
            cv2.ellipse(
                im, ((128 + side * 32) * s, 130 * s), (14 * s, 20 * s), 0, 0, 360, (200, 200, 200, 255), -1
            )

    rgba = _smooth(draw, 256)
    la = np.dstack([rgba[..., 0], rgba[..., 3]])
    return _png(Image.fromarray(la, "LA"))


def emoji_face() -> bytes:
    """An emoji-like face: a yellow disc with a dark outline, eyes and a smile."""

    def draw(im: np.ndarray, s: int) -> None:
        cv2.circle(im, (128 * s, 128 * s), 112 * s, (60, 40, 10, 255), -1, lineType=cv2.LINE_AA)
        cv2.circle(im, (128 * s, 128 * s), 104 * s, (255, 205, 40, 255), -1, lineType=cv2.LINE_AA)
        for cx in (90, 166):
            cv2.ellipse(im, (cx * s, 100 * s), (12 * s, 20 * s), 0, 0, 360, (60, 40, 10, 255), -1)
        cv2.ellipse(
            im,
            (128 * s, 140 * s),
            (60 * s, 50 * s),
            0,
            20,
            160,
            (60, 40, 10, 255),
            12 * s,
            lineType=cv2.LINE_AA,
        )

    return _png(Image.fromarray(_smooth(draw, 256), "RGBA"))


def emoji_heart() -> bytes:
    """An emoji-like red heart with a highlight, 128 px."""

    def draw(im: np.ndarray, s: int) -> None:
        t = np.linspace(0, 2 * np.pi, 200)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        heart = (np.column_stack([x, y]) * 3.6 + [64, 60]) * s
        cv2.fillPoly(im, [heart.astype(np.int32)], (220, 30, 50, 255), lineType=cv2.LINE_AA)
        cv2.ellipse(im, (42 * s, 40 * s), (10 * s, 6 * s), -40, 0, 360, (255, 150, 160, 255), -1)

    return _png(Image.fromarray(_smooth(draw, 128), "RGBA"))


#: name → PNG bytes maker.
PICTURES: dict[str, Callable[[], bytes]] = {
    "logo-badge": logo_badge,
    "logo-ring": logo_ring,
    "pictogram": pictogram,
    "line-art": line_art,
    "separate-parts": separate_parts,
    "icon-64": icon(64),
    "icon-100": icon(100),
    "icon-150": icon(150),
    "palette-transparent": palette_with_transparency,
    "grey-alpha": grey_alpha,
    "emoji-face": emoji_face,
    "emoji-heart": emoji_heart,
}

#: name → (text, lettering options); fonts from Debian packages, or the built-in one.
TEXTS: dict[str, tuple[str, dict[str, object]]] = {
    "text-builtin": ("ORFEAS MAKER", {}),
    "text-dejavu": ("Hello\\nMaker", {"font_path": DEJAVU_BOLD}),
    "text-liberation": ("Keys & Co.", {"font_path": LIBERATION_SERIF}),
}


def make_model(name: str, params: dict[str, object]) -> orfeas.Model:
    """The corpus picture or text ``name`` made into a model with ``params`` (a text whose font is
    not installed skips, and fails in CI)."""
    from tests.conftest import require

    if name in TEXTS:
        text, options = TEXTS[name]
        font = options.get("font_path")
        require(font is None or Path(str(font)).is_file(), f"the font {font} is not installed")
        return orfeas.generate(text=text, lettering=options, params=params)
    return orfeas.generate(PICTURES[name](), params=params)
