"""The studio's colour prints: the picture's colours as swatches before generating, merging two by
clicking, the built palette with filament, a 3MF that PrusaSlicer prints with one tool per colour,
and the 3D view showing each part in its colour."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import sliced, slicer_problems
from tests.pictures import logo_badge
from tests.web.conftest import Studio

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _three_colour_keychain(studio: Studio) -> None:
    studio.open()
    page = studio.page
    page.set_input_files(
        "#image-input", files=[{"name": "logo.png", "mimeType": "image/png", "buffer": logo_badge()}]
    )
    page.wait_for_selector("#dropzone.has-file")
    studio.choose_mode("keychain")
    studio.set_param("colors", 3)
    page.locator("#params [data-field='colors'] input[type=number]").dispatch_event("change")
    page.wait_for_selector("#palette:not([hidden]) .swatch")


def _swatch_colours(studio: Studio, selector: str) -> list[tuple[int, int, int]]:
    styles = studio.page.eval_on_selector_all(
        f"{selector} .swatch-chip", "chips => chips.map(c => getComputedStyle(c).backgroundColor)"
    )
    return [tuple(int(v) for v in re.findall(r"\d+", s)[:3]) for s in styles]  # type: ignore[misc]


def _near(a: tuple[int, ...], b: tuple[int, ...], within: float = 40) -> bool:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) ** 0.5 <= within


def test_a_three_colour_keychain_shows_its_swatches_and_slices_with_three_tools(
    studio: Studio, tmp_path: Path
) -> None:
    _three_colour_keychain(studio)
    page = studio.page
    # Before generating: the picture's three colours (dark outline, blue field, yellow star).
    preview = _swatch_colours(studio, "#palette")
    assert len(preview) == 3
    for colour in ((30, 30, 40), (30, 110, 200), (250, 210, 40)):
        assert any(_near(colour, c) for c in preview), (colour, preview)
    assert page.locator("#palette canvas.palette-preview").count() == 1
    page.click("#submit")
    studio.wait_for_model()
    # After: the palette it was built with, one extruder each.
    built = page.locator("#built-palette .swatch")
    assert built.count() == 3
    labels = [built.nth(i).get_attribute("aria-label") or "" for i in range(3)]
    assert [label.split()[0] for label in labels] == ["T0", "T1", "T2"] and all(" g, " in x for x in labels)
    # The 3D view shows the parts in their colours (materials from the GLB, not the grey default):
    # the blue field and the yellow star are on screen.
    view = np.asarray(Image.open(io.BytesIO(studio.canvas_png())).convert("RGB")).reshape(-1, 3).astype(int)
    (tmp_path / "view.png").write_bytes(studio.canvas_png())
    blue = (view[:, 2] > view[:, 0] + 60) & (view[:, 2] > view[:, 1] + 20)
    yellow = (view[:, 0] > view[:, 2] + 80) & (view[:, 1] > view[:, 2] + 60)
    assert blue.mean() > 0.01 and yellow.mean() > 0.002, (blue.mean(), yellow.mean())
    # The 3MF downloaded from the page slices in PrusaSlicer with one tool per colour.
    with page.expect_download() as info:
        page.click("#downloads a[download$='.3mf']")
    path = tmp_path / "key.3mf"
    info.value.save_as(path)
    assert slicer_problems([path], parts=3) == {}
    gcode = sliced(path, tmp_path / "key.gcode", "--nozzle-diameter", "0.4,0.4,0.4").decode()
    assert sorted(set(re.findall(r"^T(\d)\s*$", gcode, flags=re.MULTILINE))) == ["0", "1", "2"]


def test_two_swatches_clicked_print_as_one_colour(studio: Studio) -> None:
    _three_colour_keychain(studio)
    page = studio.page
    swatches = page.locator("#palette button.swatch")
    first = _swatch_colours(studio, "#palette")
    swatches.nth(1).click()
    assert swatches.nth(1).get_attribute("aria-pressed") == "true"
    swatches.nth(2).click()  # merged into the one chosen first
    assert page.locator("#palette button.swatch").count() == 2
    assert "merged" in page.inner_text("#palette .palette-status")
    hexes = ["#{:02x}{:02x}{:02x}".format(*c) for c in first]
    palette = page.evaluate("() => document.querySelector(\"#params [data-field='palette'] input\").value")
    assert palette == f"{hexes[0]},{hexes[1]}+{hexes[2]}"
    page.click("#submit")
    studio.wait_for_model()
    assert page.locator("#built-palette .swatch").count() == 2


def test_the_swatches_work_from_the_keyboard(studio: Studio) -> None:
    _three_colour_keychain(studio)
    page = studio.page
    page.locator("#palette button.swatch").nth(0).focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.locator("#palette button.swatch").count() == 2


def test_the_palette_states_have_no_accessibility_violations(audited_studio: Studio) -> None:
    _three_colour_keychain(audited_studio)
    findings = audited_studio.audit("palette preview")
    audited_studio.page.locator("#palette button.swatch").nth(0).click()
    findings += audited_studio.audit("a swatch chosen")
    audited_studio.page.click("#submit")
    audited_studio.wait_for_model()
    findings += audited_studio.audit("built palette")
    assert not findings, findings
