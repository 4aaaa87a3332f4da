"""Colour quantisation for colour prints: the colours a person sees, specks and anti-aliasing
gone, tiny regions merged, the same palette every time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.imaging.palette import hex_colour, parse_palette, reduce_colours

RED, BLUE, CREAM = (214, 40, 40), (0, 48, 73), (240, 230, 200)


def _three_colours(size: int = 240) -> np.ndarray:
    """A cream field, a blue square and a red disc, drawn 4× larger and shrunk (anti-aliased edges
    mix the colours), with salt-and-pepper specks and a little noise."""
    big = np.zeros((size * 4, size * 4, 3), np.uint8)
    big[:] = CREAM
    cv2.rectangle(big, (80, 80), (520, 520), BLUE, -1)
    cv2.circle(big, (640, 640), 220, RED, -1, lineType=cv2.LINE_AA)
    image = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    rng = np.random.default_rng(3)
    image += rng.integers(-6, 7, image.shape, dtype=np.int16)
    specks = rng.random(image.shape[:2]) < 0.002
    image[specks] = (255, 0, 255)
    return np.clip(image, 0, 255).astype(np.uint8)


def _near(colour: np.ndarray, target: tuple[int, int, int], within: float = 12.0) -> bool:
    return float(np.linalg.norm(colour.astype(float) - np.array(target, float))) <= within


@pytest.mark.unit
def test_three_flat_colours_come_back_as_three_with_their_shares() -> None:
    image = _three_colours()
    palette = reduce_colours(image, np.ones(image.shape[:2], bool), 3)
    assert palette.count == 3
    found = [tuple(c) for c in palette.colours]
    for target in (CREAM, BLUE, RED):
        assert any(_near(np.array(c), target) for c in found), (found, target)
    assert np.isclose(palette.shares.sum(), 1.0)
    assert list(palette.shares) == sorted(palette.shares, reverse=True)
    # The blue square is 110² of 240² px (about 21 %).
    blue = next(i for i, c in enumerate(palette.colours) if _near(c, BLUE))
    assert palette.shares[blue] == pytest.approx(110**2 / 240**2, abs=0.02)


@pytest.mark.unit
def test_specks_and_anti_aliased_edges_do_not_become_colours_or_islands() -> None:
    image = _three_colours()
    palette = reduce_colours(image, np.ones(image.shape[:2], bool), 4, min_region_px=16, min_width_px=2)
    # The magenta specks are 0.2 % of the picture: not a colour of their own.
    assert not any(_near(c, (255, 0, 255), 60) for c in palette.colours)
    # Every colour is a few solid regions: no speck is left as an island of another colour.
    for k in range(palette.count):
        regions, _ = cv2.connectedComponents((palette.labels == k).astype(np.uint8), connectivity=4)
        assert regions - 1 <= 2, f"colour {hex_colour(palette.colours[k])} is in {regions - 1} pieces"


@pytest.mark.unit
def test_a_count_above_the_colours_there_are_gives_the_colours_there_are() -> None:
    image = _three_colours()
    palette = reduce_colours(image, np.ones(image.shape[:2], bool), 8)
    assert palette.count == 3  # near-equal centres (ΔE < 10) are one colour
    assert palette.asked == 8


@pytest.mark.unit
def test_the_same_picture_gives_the_same_palette() -> None:
    image = _three_colours()
    a = reduce_colours(image, np.ones(image.shape[:2], bool), 3)
    b = reduce_colours(image, np.ones(image.shape[:2], bool), 3)
    assert a.hex() == b.hex() and np.array_equal(a.labels, b.labels)


@pytest.mark.unit
def test_a_given_palette_merges_what_the_person_merged() -> None:
    image = _three_colours()
    parts = parse_palette("#d62828+#003049, #f0e6c8")
    palette = reduce_colours(image, np.ones(image.shape[:2], bool), 2, parts=parts)
    assert palette.count == 2
    assert palette.hex()[0] == "#f0e6c8" or palette.hex()[1] == "#f0e6c8"
    merged = palette.hex().index("#d62828")  # the merged part prints in its first colour
    red_and_blue = 110**2 + np.pi * 55**2
    assert palette.shares[merged] == pytest.approx(red_and_blue / 240**2, abs=0.03)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "why"),
    [("", "at least one"), ("#12345", "not a colour"), (",".join(["#000000"] * 9), "at most 8")],
)
def test_a_palette_that_is_not_colours_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_palette(text)


@pytest.mark.unit
def test_only_the_region_counts() -> None:
    image = _three_colours()
    region = np.zeros(image.shape[:2], bool)
    region[130:190, 130:190] = True  # inside the red disc only (centre 160, radius 55)
    palette = reduce_colours(image, region, 3)
    assert palette.count == 1 and _near(palette.colours[0], RED)
    preview = palette.preview()
    assert preview[region, 3].min() == 255 and preview[~region, 3].max() == 0
