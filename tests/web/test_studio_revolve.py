"""The studio with the ``revolve`` mode: its controls come from the schema, a drawn pawn becomes a
round brown model on the bed, and a person is refused with the server's reason."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import png_bytes
from tests.engines import round_pictures as rp
from tests.web.conftest import Studio
from tests.web.test_studio import _centre, _difference, _pixels, _screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _upload(studio: Studio, tmp_path: Path, name: str, picture: np.ndarray) -> None:
    path = tmp_path / f"{name}.png"
    path.write_bytes(png_bytes(picture))
    studio.page.set_input_files("#image-input", str(path))


def test_a_drawn_pawn_turns_into_a_round_model_in_the_studio(studio: Studio, tmp_path: Path) -> None:
    studio.open()
    page = studio.page
    hollow = page.locator("#params [data-field='hollow']")
    assert not hollow.is_visible()  # a revolve control, hidden for the default mode
    _upload(studio, tmp_path, "pawn", rp.pawn())
    studio.choose_mode("revolve")
    assert hollow.is_visible()
    studio.set_param("size_mm", 60)
    studio.set_param("target_faces", 20_000)
    page.click("#submit")
    studio.wait_for_model()
    centre = _centre(_pixels(studio.canvas_png()), share=0.4)
    brown = (centre[..., 0] > centre[..., 2] + 30) & (centre[..., 1] > centre[..., 2] + 10)
    assert brown.mean() > 0.05
    sides = [float(x) for x in re.findall(r"\d+\.\d", page.inner_text("#dimensions"))]
    assert sorted(sides)[-1] == pytest.approx(60.0, abs=0.2)  # the height
    assert sides[0] == pytest.approx(sides[1], rel=0.02)  # round: as deep as wide
    # A turned object turns on the bed by itself; the Turn button stops it.
    assert page.get_attribute("#viewer", "data-turning") == "on"
    before = studio.canvas_png()
    page.wait_for_timeout(1500)
    assert _difference(before, studio.canvas_png()) > 0.5
    page.click("#turn")
    assert page.get_attribute("#turn", "aria-pressed") == "false"
    page.wait_for_timeout(300)
    still = studio.canvas_png()
    page.wait_for_timeout(800)
    assert _difference(still, studio.canvas_png()) < 0.2
    _screenshot(studio, "studio-revolve-pawn.png")


def test_a_person_is_refused_with_the_reason(studio: Studio, tmp_path: Path) -> None:
    studio.open()
    _upload(studio, tmp_path, "person", rp.person())
    studio.choose_mode("revolve")
    studio.page.click("#submit")
    assert studio.wait_for_state("succeeded", "failed") == "failed"
    assert "round object" in studio.page.inner_text("#progress")


def test_a_cup_with_a_handle_shows_what_was_left_out_and_what_it_holds(
    studio: Studio, tmp_path: Path
) -> None:
    studio.open()
    page = studio.page
    _upload(studio, tmp_path, "cup", rp.cup_with_handle())
    studio.choose_mode("revolve")
    page.click("#params [data-field='hollow'] label.switch")
    studio.set_param("target_faces", 20_000)
    page.click("#submit")
    studio.wait_for_model()
    assert "handle" in page.inner_text("#report .verdict")
    facts = dict(
        zip(
            page.eval_on_selector_all("#report dt", "ds => ds.map(d => d.textContent)"),
            page.eval_on_selector_all("#report dd", "ds => ds.map(d => d.textContent)"),
            strict=True,
        )
    )
    assert re.fullmatch(r"\d+ ml", facts["Holds"]), facts
    _screenshot(studio, "studio-revolve-cup.png")
