"""The whole path, as a user calls it: picture or text in, a verified model and report out."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import orfeas
from orfeas.errors import Cancelled, InputRejected
from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from orfeas.pipeline import STAGES
from tests.conftest import disc_rgba, drawing_on_white, png_bytes

SMALL = {"target_faces": 5000}


@pytest.mark.unit
def test_generate_returns_a_verified_model_with_report(disc_png: bytes) -> None:
    seen: list[str] = []
    model = orfeas.generate(disc_png, params=SMALL, progress=lambda stage, _f: seen.append(stage))
    assert model.report["printable"] and model.report["watertight"]
    assert model.report["faces"] <= 5000 * 1.05
    assert model.report["engine"]["name"] == "relief" and model.report["engine"]["mask_method"] == "alpha"
    assert model.report["parameters"]["mode"] == "puffy"
    assert model.mesh.bounds[0, 2] == pytest.approx(0)  # on the bed
    assert [s for s in STAGES if s in seen] == [s for s in STAGES if s != "export"] + ["export"]
    assert set(model.timings) >= {"decode", "mask", "mesh", "simplify", "verify"}


@pytest.mark.unit
def test_same_input_gives_byte_identical_stl() -> None:
    picture = png_bytes(np.dstack([drawing_on_white(160), np.full((160, 200), 255, np.uint8)]))
    first = orfeas.generate(picture, params=SMALL).export("stl")
    second = orfeas.generate(picture, params=SMALL).export("stl")
    assert first == second


@pytest.mark.unit
def test_text_makes_a_crisp_name_plate() -> None:
    model = orfeas.generate(text="HELLO", params=SMALL)
    params = model.report["parameters"]
    assert params["mode"] == "extrude" and params["depth_mm"] == 1.5  # the name-plate rule
    x, y, z = model.report["bbox_mm"]
    assert x == pytest.approx(80, abs=0.01) and y < x and z == pytest.approx(2.0 + 1.5)
    fidelity = model.report["fidelity"]
    assert fidelity["silhouette_iou"] > 0.98 and fidelity["stray_share"] == 0.0
    assert model.report["bodies"] == 1 and model.report["faces"] < 5_000


@pytest.mark.unit
def test_escaped_new_line_starts_a_new_line() -> None:
    one = orfeas.generate(text="AB CD", params=SMALL).report["bbox_mm"]
    two = orfeas.generate(text="AB\\nCD", params=SMALL).report["bbox_mm"]
    assert orfeas.generate(text="AB\nCD", params=SMALL).report["bbox_mm"] == pytest.approx(two)
    assert two[1] / two[0] > 2 * one[1] / one[0]  # two lines: a taller plate


@pytest.mark.unit
def test_save_writes_format_from_extension(tmp_path, disc_png: bytes) -> None:
    model = orfeas.generate(disc_png, params=SMALL)
    for fmt in exchange.FORMATS:
        path = model.save(tmp_path / f"m.{fmt}")
        assert check(exchange.load(path.read_bytes(), fmt)).ok


@pytest.mark.unit
def test_exif_rotated_photo_is_built_upright() -> None:
    wide = Image.fromarray(np.dstack([drawing_on_white(120)]))  # 150 wide × 120 tall
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif, quality=95)
    model = orfeas.generate(buffer.getvalue(), params={**SMALL, "mode": "lithophane", "size_mm": 60})
    x, y, _ = model.report["bbox_mm"]
    assert y == pytest.approx(60, abs=0.01) and x < 50  # upright: taller than wide


@pytest.mark.unit
@pytest.mark.parametrize("size", [(1, 1), (3000, 4000)], ids=["1x1", "4000x3000"])
def test_tiny_and_large_pictures(size: tuple[int, int]) -> None:
    h, w = size
    picture = np.zeros((h, w, 4), np.uint8)
    picture[..., :3] = 180
    picture[..., 3] = 255
    if h > 1:
        picture[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4, 3] = 255
        picture[: h // 8, :, 3] = 0
    model = orfeas.generate(png_bytes(picture), params=SMALL)
    assert model.report["printable"]


@pytest.mark.unit
def test_cancel_from_progress_callback_stops_the_run(disc_png: bytes) -> None:
    def cancel_at_mesh(stage: str, _fraction: float) -> None:
        if stage == "mesh":
            raise Cancelled("stopped by the user")

    with pytest.raises(Cancelled):
        orfeas.generate(disc_png, params=SMALL, progress=cancel_at_mesh)


@pytest.mark.unit
def test_bad_requests_fail_before_any_work() -> None:
    with pytest.raises(InputRejected) as caught:
        orfeas.generate(None)
    assert caught.value.code == "empty"
    with pytest.raises(InputRejected) as caught:
        orfeas.generate(png_bytes(disc_rgba(32)), params={"mode": "bogus"})
    assert caught.value.field == "mode"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "params", "says"),
    [
        ("W" * 200, {}, "too long or has too many lines"),
        ("a\n" * 19 + "a", {}, "shorter text or fewer lines"),
        ("W" * 20, {"size_mm": 220}, "too long or has too many lines"),  # printable in mm, lost by the engine
    ],
    ids=["200-W", "20-lines", "20-W-at-220mm"],
)
def test_lettering_that_would_not_survive_is_refused_before_the_engine(
    text: str, params: dict, says: str
) -> None:
    """Issue 16: these were accepted, then failed in the worker with "No subject could be found"."""
    stages: list[str] = []
    with pytest.raises(InputRejected) as caught:
        orfeas.generate(text=text, params={**SMALL, **params}, progress=lambda stage, _: stages.append(stage))
    assert caught.value.field == "text" and says in caught.value.message
    assert "mask" not in stages
