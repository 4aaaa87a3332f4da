"""Drawn side views of round things (and two that are not) for the ``revolve`` tests and bench.

Each is drawn at 4× and reduced, so its outline is anti-aliased like a real drawing's, on a
transparent background (``on_white=True``: on white paper, for the GrabCut path). The round ones
are drawn from a half-profile — knots ``(y, r)`` in pixels of the final picture, top to bottom —
mirrored about the column ``cx``, so a test knows the true half-width at every height.
"""

from __future__ import annotations

import cv2
import numpy as np

SUPER = 4
OUTLINE = (35, 30, 28)

#: (y, half-width) knots of the drawn profiles, in the pixels of the 512-px-high picture.
PAWN = [(215, 32), (300, 45), (301, 80), (324, 80), (325, 60), (400, 95), (430, 100), (432, 120), (470, 120)]
PAWN_HEAD = ((150, 68),)  # (centre y, radius): a ball on the neck
ROOK = [(40, 100), (120, 100), (121, 72), (135, 72), (400, 88), (410, 110), (440, 120), (470, 120)]
BOTTLE = [
    (40, 26),
    (55, 26),
    (58, 21),
    (150, 22),
    (170, 34),
    (190, 50),
    (210, 62),
    (230, 69),
    (235, 70),
    (462, 70),
    (470, 66),
]
WINE_GLASS = [
    (40, 95),
    (100, 98),
    (160, 88),
    (210, 60),
    (240, 26),
    (255, 8),
    (262, 6),
    (440, 6),
    (450, 22),
    (460, 88),
    (470, 92),
]
VASE = [(40, 75), (55, 62), (120, 52), (170, 70), (250, 105), (330, 112), (400, 90), (450, 65), (470, 62)]
CYLINDER = [(60, 100), (460, 100)]


def half_width(
    knots: list[tuple[int, int]], y: np.ndarray, balls: tuple[tuple[int, int], ...] = ()
) -> np.ndarray:
    """The drawn half-width at picture rows ``y`` (row centres), 0 outside the drawing."""
    ys = np.array([k[0] for k in knots], float)
    rs = np.array([k[1] for k in knots], float)
    width = np.where((y >= ys[0]) & (y <= ys[-1]), np.interp(y, ys, rs), 0.0)
    for centre, radius in balls:
        width = np.maximum(width, np.sqrt(np.maximum(radius**2 - (y - centre) ** 2, 0.0)))
    return width


def drawn_rows(knots: list[tuple[int, int]], balls: tuple[tuple[int, int], ...] = ()) -> tuple[float, float]:
    """The drawing's top and bottom edges (picture rows)."""
    top = min([knots[0][0], *(centre - radius for centre, radius in balls)])
    return float(top), float(knots[-1][0])


def pawn(*, on_white: bool = False) -> np.ndarray:
    return _turned(PAWN, balls=PAWN_HEAD, colour=(120, 78, 46), on_white=on_white)


def rook(*, on_white: bool = False) -> np.ndarray:
    picture = _turned(ROOK, colour=(230, 222, 205), on_white=on_white, finish=False)
    # Battlements: three notches across the crown's top, symmetric about the axis.
    for centre in (-58, 0, 58):
        x0, x1 = (192 + centre - 14) * SUPER, (192 + centre + 14) * SUPER
        picture[40 * SUPER : 68 * SUPER, x0:x1] = _background(on_white)
    return _reduce(picture)


def bottle(*, on_white: bool = False) -> np.ndarray:
    picture = _turned(BOTTLE, colour=(38, 110, 62), width=320, on_white=on_white, finish=False)
    inside = _inside(picture, on_white)
    band = np.zeros(inside.shape, bool)
    band[290 * SUPER : 400 * SUPER] = True
    picture[inside & band] = (245, 240, 226, 255)  # the label
    stripe = np.zeros(inside.shape, bool)
    stripe[318 * SUPER : 346 * SUPER] = True
    picture[inside & stripe] = (200, 30, 40, 255)
    for x in range(100, 230, 22):  # "lettering" under the stripe
        cv2.rectangle(
            picture, (x * SUPER, 360 * SUPER), ((x + 12) * SUPER, 384 * SUPER), (30, 30, 30, 255), -1
        )
    return _reduce(picture)


def wine_glass(*, on_white: bool = False) -> np.ndarray:
    picture = _turned(WINE_GLASS, colour=(196, 214, 226), on_white=on_white, finish=False)
    inside = _inside(picture, on_white)
    wine = np.zeros(inside.shape, bool)
    wine[140 * SUPER : 225 * SUPER] = True
    picture[inside & wine] = (120, 20, 40, 255)
    return _reduce(picture)


def vase(*, on_white: bool = False) -> np.ndarray:
    picture = _turned(VASE, colour=(40, 80, 170), on_white=on_white, finish=False)
    inside = _inside(picture, on_white)
    for y in (180, 260, 340):
        stripe = np.zeros(inside.shape, bool)
        stripe[y * SUPER : (y + 14) * SUPER] = True
        picture[inside & stripe] = (240, 240, 235, 255)
    return _reduce(picture)


def cylinder_cup(*, on_white: bool = False) -> np.ndarray:
    """A straight cup: 200 px wide, 400 px high (so 80 mm high is 40 mm wide)."""
    return _turned(CYLINDER, colour=(220, 120, 40), on_white=on_white)


def cup_with_handle(*, on_white: bool = False) -> np.ndarray:
    picture = _turned(
        [(110, 100), (440, 92), (450, 88)], colour=(230, 230, 225), on_white=on_white, finish=False
    )
    cv2.ellipse(
        picture,
        (300 * SUPER, 270 * SUPER),
        (55 * SUPER, 80 * SUPER),
        0,
        -90,
        90,
        (230, 230, 225, 255),
        26 * SUPER,
    )
    return _reduce(picture)


def person(*, on_white: bool = False) -> np.ndarray:
    """A child's drawing of a person: head, body, arms held out, two legs."""
    colour = (210, 80, 60, 255)
    picture = np.zeros((512 * SUPER, 384 * SUPER, 4), np.uint8)
    picture[:] = _background(on_white)
    s = SUPER
    cv2.circle(picture, (192 * s, 90 * s), 40 * s, (240, 200, 170, 255), -1)
    cv2.rectangle(picture, (150 * s, 132 * s), (234 * s, 300 * s), colour, -1)
    cv2.line(picture, (160 * s, 150 * s), (70 * s, 280 * s), colour, 24 * s)
    cv2.line(picture, (224 * s, 150 * s), (314 * s, 280 * s), colour, 24 * s)
    cv2.rectangle(picture, (152 * s, 296 * s), (184 * s, 470 * s), (50, 60, 120, 255), -1)
    cv2.rectangle(picture, (200 * s, 296 * s), (232 * s, 470 * s), (50, 60, 120, 255), -1)
    return _reduce(picture)


def _turned(
    knots: list[tuple[int, int]],
    *,
    colour: tuple[int, int, int],
    balls: tuple[tuple[int, int], ...] = (),
    width: int = 384,
    height: int = 512,
    on_white: bool,
    finish: bool = True,
) -> np.ndarray:
    """The profile mirrored about the middle column, filled, with a thin dark outline."""
    cx = width / 2
    picture = np.zeros((height * SUPER, width * SUPER, 4), np.uint8)
    picture[:] = _background(on_white)
    right = [((cx + r) * SUPER, y * SUPER) for y, r in knots]
    left = [((cx - r) * SUPER, y * SUPER) for y, r in reversed(knots)]
    polygon = np.round(np.array(right + left)).astype(np.int32)
    shape = np.zeros(picture.shape[:2], np.uint8)
    cv2.fillPoly(shape, [polygon], 255)
    for y, r in balls:
        cv2.circle(shape, (int(cx * SUPER), y * SUPER), r * SUPER, 255, -1)
    edge = shape - cv2.erode(shape, np.ones((3 * SUPER, 3 * SUPER), np.uint8))
    picture[shape > 0] = (*colour, 255)
    picture[edge > 0] = (*OUTLINE, 255)
    return _reduce(picture) if finish else picture


def _background(on_white: bool) -> tuple[int, int, int, int]:
    return (250, 250, 248, 255) if on_white else (0, 0, 0, 0)


def _inside(picture: np.ndarray, on_white: bool) -> np.ndarray:
    """The drawn shape's inside (not its outline), at the drawing's resolution."""
    filled = np.any(picture != _background(on_white), axis=-1)
    return cv2.erode(filled.astype(np.uint8), np.ones((4 * SUPER, 4 * SUPER), np.uint8)) > 0


def _reduce(picture: np.ndarray) -> np.ndarray:
    h, w = picture.shape[:2]
    return cv2.resize(picture, (w // SUPER, h // SUPER), interpolation=cv2.INTER_AREA)
