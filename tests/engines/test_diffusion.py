"""Text → picture → 3D with a tiny random diffusers pipeline saved by ``save_pretrained`` and read
back with local files only; the picture is kept on the model for the job to store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import orfeas
from orfeas.engines import text_to_image_engines
from orfeas.engines.diffusion import OBJECT_SUFFIX
from orfeas.errors import EngineUnavailable, InputRejected
from orfeas.mesh.verify import check

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

PICTURE = {"steps": 2, "width": 72, "height": 64, "seed": 3}
SMALL = {"target_faces": 3000}


@pytest.fixture
def painter(configure, tiny_diffusion: Path):
    return text_to_image_engines()[0], configure(diffusion_model_dir=tiny_diffusion, allow_cpu=True)


@pytest.mark.integration
def test_text_becomes_a_picture_then_a_verified_model(painter) -> None:
    _, settings = painter
    seen: list[tuple[str, float]] = []
    model = orfeas.generate(
        text="a red fox",
        text_to_image="diffusion",
        diffusion=PICTURE,
        params=SMALL,
        progress=lambda stage, fraction: seen.append((stage, fraction)),
        settings=settings,
    )
    assert check(model.mesh).ok and model.report["printable"]
    assert model.source_rgba is not None and model.source_rgba.shape == (64, 72, 4)
    assert model.source_rgba.dtype == np.uint8 and (model.source_rgba[..., 3] == 255).all()
    painted = model.report["text_to_image"]
    assert painted["method"] == "diffusion" and painted["device"] == "cpu"
    assert painted["prompt"] == f"a red fox, {OBJECT_SUFFIX}" and painted["seed"] == 3
    assert model.report["parameters"]["mode"] == "puffy"  # a picture, not a name plate
    assert [f for s, f in seen if s == "decode"] == [0.0, 0.5, 1.0]


@pytest.mark.integration
def test_the_seed_decides_the_picture(painter) -> None:
    step, settings = painter
    params = step.parameters_model.model_validate(PICTURE)
    first = step.paint("a boat", params, settings).rgba
    again = step.paint("a boat", params, settings).rgba
    other = step.paint("a boat", params.model_copy(update={"seed": 4}), settings).rgba
    assert np.array_equal(first, again) and not np.array_equal(first, other)


@pytest.mark.integration
def test_text_to_picture_to_hunyuan3d(configure, tiny_diffusion: Path, tiny_hunyuan3d: Path) -> None:
    settings = configure(
        diffusion_model_dir=tiny_diffusion, hunyuan3d_model_dir=tiny_hunyuan3d, allow_cpu=True
    )
    model = orfeas.generate(
        text="a teapot",
        text_to_image="diffusion",
        diffusion=PICTURE,
        engine="hunyuan3d",
        params={"steps": 2, "octree_resolution": 20, "target_faces": 3000},
        settings=settings,
    )
    assert check(model.mesh).ok
    assert (
        model.report["engine"]["name"] == "hunyuan3d"
        and model.report["text_to_image"]["method"] == "diffusion"
    )


@pytest.mark.integration
def test_a_missing_weight_file_is_named_not_fetched(configure, tiny_diffusion: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(tiny_diffusion, partial)
    for weights in (partial / "unet").glob("diffusion_pytorch_model.*"):
        weights.unlink()
    settings = configure(diffusion_model_dir=partial, allow_cpu=True)
    with pytest.raises(EngineUnavailable, match=f"cannot load {partial}"):
        orfeas.generate(text="a cup", text_to_image="diffusion", diffusion=PICTURE, settings=settings)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text_to_image": "dream"}, "text_to_image"),
        ({"text_to_image": "diffusion", "diffusion": {"width": 65}}, "diffusion.width"),
        ({"text_to_image": "diffusion", "diffusion": {"strength": 1}}, "diffusion.strength"),
    ],
    ids=["unknown-method", "width-not-multiple-of-8", "unknown-option"],
)
def test_bad_text_to_image_options_are_refused(configure, kwargs: dict, field: str) -> None:
    settings = configure()
    with pytest.raises(InputRejected) as caught:
        orfeas.generate(text="a fox", settings=settings, **kwargs)
    assert caught.value.field == field and caught.value.code == "invalid_parameter"


@pytest.mark.integration
def test_prompt_is_checked_like_typeset_text(painter) -> None:
    step, settings = painter
    params = step.parameters_model.model_validate(PICTURE)
    with pytest.raises(InputRejected) as caught:
        step.paint("   ", params, settings)
    assert caught.value.code == "empty"
    with pytest.raises(InputRejected, match="limit is"):
        step.paint("x" * 1000, params, settings)
