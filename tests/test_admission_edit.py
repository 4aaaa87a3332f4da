"""A painted mask edit at admission: checked like the picture, then against it, and normalised."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from orfeas.admission import admission_cost, admit
from orfeas.errors import InputRejected
from orfeas.settings import Settings
from tests.conftest import disc_rgba, png_bytes, png_claiming

pytestmark = pytest.mark.unit

PICTURE = png_bytes(disc_rgba(120))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path, max_upload_bytes=200_000, max_image_pixels=4_000_000)


def _edit(settings: Settings, edit: bytes, picture: bytes = PICTURE) -> np.ndarray:
    admitted = admit({"params": {"target_faces": 2000}}, picture, settings, mask_edit=edit)
    assert admitted.spec.mask_edit is True and admitted.mask_edit is not None
    return admitted.mask_edit


def test_every_encoding_becomes_three_levels(settings: Settings) -> None:
    grey = np.full((120, 120), 128, np.uint8)
    grey[:, :40], grey[:, 80:], grey[0, 60] = 10, 250, 100  # dark, light, a mid-grey that leaves it
    levels = _edit(settings, png_bytes(grey))
    assert set(np.unique(levels)) == {0, 128, 255}
    assert (levels[:, :40] == 0).all() and (levels[:, 80:] == 255).all() and levels[0, 60] == 128
    # a 1-bit PNG: black removes, white keeps (adds)
    one_bit = io.BytesIO()
    Image.fromarray(grey >= 128).convert("1").save(one_bit, format="PNG")
    assert set(np.unique(_edit(settings, one_bit.getvalue()))) == {0, 255}
    # a brush layer with transparency: what is not painted is left to the mask source
    layer = np.zeros((120, 120, 4), np.uint8)
    layer[:30] = (0, 0, 0, 255)
    layer[90:] = (255, 255, 255, 255)
    levels = _edit(settings, png_bytes(layer))
    assert (levels[:30] == 0).all() and (levels[90:] == 255).all() and (levels[30:90] == 128).all()


def test_equal_edits_are_equal_files(settings: Settings) -> None:
    """The stored edit is canonical, so the result cache sees two spellings of one edit as one."""
    a, b = np.full((120, 120), 128, np.uint8), np.full((120, 120), 140, np.uint8)
    a[:50], b[:50] = 0, 30
    files = [admit({}, PICTURE, settings, mask_edit=png_bytes(e)).mask_edit_bytes() for e in (a, b)]
    assert files[0] == files[1] and files[0] is not None


def test_an_edit_scaled_to_the_picture_is_taken_and_another_shape_is_refused(settings: Settings) -> None:
    assert _edit(settings, png_bytes(np.full((60, 60), 0, np.uint8))).shape == (60, 60)
    picture = png_bytes(disc_rgba(300)[:200])  # 300 × 200
    assert _edit(settings, png_bytes(np.zeros((67, 100), np.uint8)), picture).shape == (67, 100)  # ⅓, rounded
    for shape in ((100, 100), (200, 100), (80, 100)):
        with pytest.raises(InputRejected) as refused:
            admit({}, picture, settings, mask_edit=png_bytes(np.zeros(shape, np.uint8)))
        error = refused.value
        assert (error.code, error.field) == ("invalid_parameter", "mask_edit")
        assert f"{shape[1]} × {shape[0]}" in error.message and "300 × 200" in error.message


def test_the_edit_matches_the_upright_picture(settings: Settings) -> None:
    """A photo turned by its EXIF orientation is painted on as it is seen, so the edit must be too."""
    stored = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90°: a 300 × 200 file is seen 200 × 300
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(stored, format="JPEG", exif=exif)
    picture = stored.getvalue()
    assert _edit(settings, png_bytes(np.zeros((300, 200), np.uint8)), picture).shape == (300, 200)
    with pytest.raises(InputRejected, match="200 × 300"):
        admit({}, picture, settings, mask_edit=png_bytes(np.zeros((200, 300), np.uint8)))


@pytest.mark.security
@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (b"", "empty"),
        (png_bytes(np.zeros((120, 120), np.uint8))[:60], "corrupt"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "unsupported_type"),
        (png_claiming(30000, 30000), "too_many_pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 200_001, "too_large"),
    ],
)
def test_a_hostile_edit_is_refused_like_a_hostile_picture(settings: Settings, edit: bytes, code: str) -> None:
    with pytest.raises(InputRejected) as refused:
        if code in ("too_many_pixels", "too_large", "unsupported_type"):
            admission_cost({}, PICTURE, settings, mask_edit=edit)  # priced from its header: refused there
        admit({}, PICTURE, settings, mask_edit=edit)
    assert (refused.value.code, refused.value.field) == (code, "mask_edit")


def test_an_edit_goes_with_a_picture_only(settings: Settings) -> None:
    edit = png_bytes(np.zeros((120, 120), np.uint8))
    cases = [
        ({"text": "HI"}, None),  # a text has no picture to correct
        ({"task": "repair"}, b"solid x\nendsolid x\n"),  # nor has a mesh
        ({"text": "a fox", "text_to_image": "diffusion", "task": "paint"}, None),
    ]
    for spec, data in cases:
        with pytest.raises(InputRejected) as refused:
            admit(spec, data, settings, mask_edit=edit)
        assert refused.value.field == "mask_edit", spec
    with pytest.raises(InputRejected, match="as a file") as claimed:
        admit({"mask_edit": True}, PICTURE, settings)  # said, but not sent
    assert claimed.value.field == "mask_edit"
    assert admit({}, PICTURE, settings).spec.mask_edit is False
