"""hunyuan3d end to end on a tiny random Hunyuan3D-2 model, on the CPU: weights found on disk,
loaded by upstream's loader, sampled, surfaced, closed — and the verified model out of
``orfeas.generate``. Random weights make a meaningless blob; the path is what is tested."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import orfeas
from orfeas.engines import get_engine, gpu
from orfeas.engines.base import parameters_schema
from orfeas.engines.hunyuan3d import find_weights
from orfeas.errors import EngineUnavailable, InputRejected
from orfeas.mesh.verify import check
from tests.conftest import disc_rgba, drawing_on_white, png_bytes

FAST = {"steps": 2, "octree_resolution": 24, "target_faces": 5000}


@pytest.fixture
def on_cpu(configure, tiny_hunyuan3d: Path):
    return configure(hunyuan3d_model_dir=tiny_hunyuan3d, allow_cpu=True)


@pytest.mark.integration
def test_a_picture_becomes_a_verified_model(on_cpu, disc_png: bytes) -> None:
    seen: list[str] = []
    model = orfeas.generate(disc_png, engine="hunyuan3d", params=FAST, progress=lambda s, _f: seen.append(s))
    result = check(model.mesh)
    assert result.ok, result.problems()
    report = model.report
    assert report["printable"] and report["watertight"] and report["faces"] <= 5000 * 1.05
    assert max(report["bbox_mm"]) == pytest.approx(80.0, abs=0.01)  # scaled by the pipeline
    engine = report["engine"]
    assert engine["name"] == "hunyuan3d" and engine["device"] == "cpu" and engine["texture"] == "off"
    assert engine["mask_method"] == "alpha" and engine["weights"].endswith("model.fp16.safetensors")
    assert engine["closing"]["closed"] and engine["raw_faces"] > 0
    # What a picture can say about a generated shape: its silhouette from the front, nothing more.
    fidelity = report["fidelity"]
    assert fidelity["view"] == "front" and 0.0 <= fidelity["silhouette_iou"] <= 1.0
    assert fidelity["deviation_mm"]["mesh_to_intent"]["max"] is None and fidelity["within_bound"]
    assert seen[:4] == ["decode", "mask", "height", "height"] and {"mesh", "verify", "export"} <= set(seen)
    assert seen.count("height") == 1 + FAST["steps"]  # one report per diffusion step


@pytest.mark.integration
def test_same_seed_same_model_and_the_model_is_loaded_once(on_cpu) -> None:
    picture = png_bytes(np.dstack([drawing_on_white(96), np.full((96, 120), 255, np.uint8)]))
    gpu.MODELS.clear()
    loads: list[str] = []
    remove = gpu.on_model_loaded(lambda name, _s: loads.append(name))
    try:
        first = orfeas.generate(picture, engine="hunyuan3d", params=FAST)
        second = orfeas.generate(picture, engine="hunyuan3d", params=FAST)
        other = orfeas.generate(picture, engine="hunyuan3d", params={**FAST, "seed": 7})
    finally:
        remove()
    assert loads == ["hunyuan3d"]
    assert "model_load_s" in first.report["engine"] and "model_load_s" not in second.report["engine"]
    assert first.export("stl") == second.export("stl")
    assert first.export("stl") != other.export("stl")
    assert first.report["engine"]["mask_method"] in ("neural", "grabcut")  # an opaque picture is cut out


@pytest.mark.integration
def test_hunyuan3d_upstream_layout_under_hy3dgen_models(
    configure, tiny_hunyuan3d, monkeypatch, tmp_path
) -> None:
    home = tmp_path / "models"
    shutil.copytree(tiny_hunyuan3d, home / "tencent" / "Hunyuan3D-2")
    monkeypatch.setenv("HY3DGEN_MODELS", str(home))
    settings = configure(allow_cpu=True)
    weights = find_weights(settings)
    assert not isinstance(weights, list)
    assert (
        weights.checkpoint
        == home / "tencent" / "Hunyuan3D-2" / "hunyuan3d-dit-v2-0" / "model.fp16.safetensors"
    )
    assert get_engine("hunyuan3d").availability(settings).available


@pytest.mark.integration
def test_a_broken_checkpoint_is_named(configure, tiny_hunyuan3d: Path, tmp_path: Path, disc_png) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_hunyuan3d, broken)
    checkpoint = broken / "hunyuan3d-dit-v2-0" / "model.fp16.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])  # a download cut short
    settings = configure(hunyuan3d_model_dir=broken, allow_cpu=True)
    with pytest.raises(EngineUnavailable, match=f"cannot load {checkpoint}"):
        orfeas.generate(disc_png, engine="hunyuan3d", params=FAST, settings=settings)


@pytest.mark.integration
def test_without_background_removal_the_whole_picture_is_the_subject(on_cpu) -> None:
    picture = png_bytes(disc_rgba(64))
    model = orfeas.generate(picture, engine="hunyuan3d", params={**FAST, "mask": "none"})
    assert model.report["engine"]["mask_method"] == "none" and model.report["printable"]


@pytest.mark.unit
def test_parameters_carry_upstreams_ranges_and_units() -> None:
    schema = parameters_schema(get_engine("hunyuan3d"))["properties"]
    assert (schema["steps"]["minimum"], schema["steps"]["maximum"]) == (1, 100)
    assert (schema["octree_resolution"]["minimum"], schema["octree_resolution"]["maximum"]) == (16, 512)
    assert schema["seed"]["maximum"] == 10_000_000 and schema["size_mm"]["unit"] == "mm"
    with pytest.raises(InputRejected) as caught:
        orfeas.generate(png_bytes(disc_rgba(32)), engine="hunyuan3d", params={"octree_resolution": 8})
    assert caught.value.field == "octree_resolution"
