"""The studio's maker objects: a mode brings its own sizes (a keychain is smaller than a sign)
unless the person typed one, and a keychain made in the studio has its loop."""

from __future__ import annotations

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
