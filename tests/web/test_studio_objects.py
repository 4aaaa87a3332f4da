"""The studio's maker objects: a mode brings its own sizes (a keychain is smaller than a sign)
unless the person typed one, and a keychain made in the studio has its loop."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import png_bytes
from tests.web.conftest import Studio, heart_rgba

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _value(studio: Studio, name: str) -> str:
    return studio.page.input_value(f"#params [data-field='{name}'] input[type=number]")


def test_a_mode_brings_its_own_sizes_but_keeps_what_was_typed(studio: Studio) -> None:
    studio.open()
    assert _value(studio, "size_mm") == "80"
    studio.choose_mode("keychain")
    assert (_value(studio, "size_mm"), _value(studio, "depth_mm"), _value(studio, "base_mm")) == (
        "50",
        "1.5",
        "3",
    )
    studio.choose_mode("relief")
    assert (_value(studio, "size_mm"), _value(studio, "depth_mm")) == ("80", "4")
    studio.set_param("size_mm", 65)
    studio.choose_mode("keychain")
    assert (_value(studio, "size_mm"), _value(studio, "depth_mm")) == ("65", "1.5")


def test_a_keychain_from_the_studio_has_its_loop(studio: Studio) -> None:
    studio.open()
    page = studio.page
    page.set_input_files(
        "#image-input",
        files=[{"name": "heart.png", "mimeType": "image/png", "buffer": png_bytes(heart_rgba(200))}],
    )
    page.wait_for_selector("#dropzone.has-file")
    studio.choose_mode("keychain")
    page.click("#submit")
    studio.wait_for_model()
    job = page.evaluate("() => fetch(`/api/v1/jobs/${location.hash.split('=')[1]}`).then(r => r.json())")
    assert job["params"]["mode"] == "keychain" and job["params"]["size_mm"] == 50
    report = job["report"]
    assert (
        report["engine"]["loop"]["kind"] == "ring" and report["euler_number"] == 0 and report["bodies"] == 1
    )


OBJECTS = ("puffy", "relief", "extrude", "keychain", "cutter", "stamp", "lithophane")


def test_object_types_are_cards_with_pictures_chosen_by_keyboard(studio: Studio) -> None:
    studio.open()
    page = studio.page
    cards = page.locator("#params .field-mode.object-cards")
    assert cards.count() == 1
    for mode in OBJECTS:
        card = cards.locator(f"label:has-text('{mode.capitalize()}')")
        assert card.locator("svg.object-picture path").count() >= 1, mode
        assert card.is_visible()
    # Keyboard: Tab reaches the cards as one group, the arrows move between objects and the
    # fields follow (a cutter has a blade; a stamp its grip).
    page.focus("#params [data-field='mode'] input:checked")
    assert page.evaluate("() => document.activeElement.value") == "puffy"
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.value") == "cutter"
    assert page.locator("#params [data-field='blade_mm']").is_visible()
    assert not page.locator("#params [data-field='grip']").is_visible()
    page.keyboard.press("ArrowRight")
    assert page.locator("#params [data-field='grip']").is_visible()
    assert not page.locator("#params [data-field='blade_mm']").is_visible()
    assert (
        page.locator("#params [data-field='mode'] .choice-note")
        .inner_text()
        .startswith("The design mirrored")
    )


def _half_and_half() -> bytes:
    """Black on the left, white on the right: thick and thin."""
    image = np.full((120, 240, 4), 255, np.uint8)
    image[:, :120, :3] = 0
    return png_bytes(image)


def _brightness(studio: Studio) -> tuple[float, float]:
    """The preview's mean brightness over its left and right thirds (inside any frame)."""
    return tuple(
        studio.page.evaluate(
            """() => {
              const c = document.querySelector('#backlit-canvas');
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              const mean = (x0, x1) => { let s = 0, n = 0;
                for (let y = Math.floor(c.height / 3); y < 2 * c.height / 3; y++)
                  for (let x = Math.floor(x0 * c.width); x < x1 * c.width; x++) {
                    s += d[4 * (y * c.width + x)]; n++;
                  }
                return s / n; };
              return [mean(0.2, 0.4), mean(0.6, 0.8)];
            }"""
        )
    )


def test_a_lithophane_has_a_backlit_preview_that_follows_the_thickness(studio: Studio) -> None:
    studio.open()
    page = studio.page
    page.set_input_files(
        "#image-input", files=[{"name": "half.png", "mimeType": "image/png", "buffer": _half_and_half()}]
    )
    page.wait_for_selector("#dropzone.has-file")
    assert page.locator("#backlit").is_hidden()  # a puffy body is not held to the light
    studio.choose_mode("lithophane")
    page.wait_for_selector("#backlit:not([hidden])")
    dark, light = _brightness(studio)
    assert light > 200 and dark < 0.2 * light  # the black half is thick: little light comes through
    studio.set_param("max_thickness_mm", 1.2)
    darker_before = dark
    dark, light = _brightness(studio)
    assert dark > darker_before * 2 and light > 200  # thinner: more light
    assert page.locator("#params [data-field='shape']").is_visible()
    studio.choose_mode("keychain")
    assert page.locator("#backlit").is_hidden()


def test_object_cards_and_the_backlit_preview_have_no_violations(audited_studio: Studio) -> None:
    studio = audited_studio
    studio.open()
    page = studio.page
    page.set_input_files(
        "#image-input", files=[{"name": "half.png", "mimeType": "image/png", "buffer": _half_and_half()}]
    )
    page.wait_for_selector("#dropzone.has-file")
    studio.choose_mode("lithophane")
    page.wait_for_selector("#backlit:not([hidden])")
    findings = studio.audit("lithophane with its backlit preview")
    studio.choose_mode("cutter")
    findings += studio.audit("cutter card chosen")
    assert not findings, findings
