"""Every neural engine says precisely why it cannot run: package, weights (with the path looked
at), import, device — in the engine, in ``orfeas engines`` and before any work in ``generate``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import orfeas
from orfeas import cli
from orfeas.engines import get_engine, text_to_image_engines
from orfeas.engines.hunyuan3d import import_problem
from orfeas.errors import EngineUnavailable
from orfeas.imaging.background import background_remover, rembg_state
from tests.engines.conftest import require_diffusers, require_hy3dgen

HUNYUAN = get_engine("hunyuan3d")
DIFFUSION = text_to_image_engines()[0]


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


@pytest.fixture
def fresh_import_check() -> Iterator[None]:
    import_problem.cache_clear()
    yield
    import_problem.cache_clear()


# --- hunyuan3d ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_hunyuan3d_without_the_package(configure, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure()
    monkeypatch.setitem(sys.modules, "hy3dgen", None)  # as if it were not installed
    state = HUNYUAN.availability(settings)
    assert not state.available
    assert state.reason.startswith("hy3dgen not installed")


@pytest.mark.unit
def test_hunyuan3d_names_the_folder_it_looked_in(configure, tmp_path: Path) -> None:
    require_hy3dgen()
    settings = configure(hunyuan3d_model_dir=tmp_path / "weights")
    state = HUNYUAN.availability(settings)
    assert not state.available
    assert state.reason.startswith(f"no weights at {tmp_path / 'weights' / 'hunyuan3d-dit-v2-0'}")
    assert "config.yaml" in state.reason and "model.fp16.safetensors" in state.reason


@pytest.mark.unit
def test_hunyuan3d_default_places_are_upstreams(configure, monkeypatch, tmp_path: Path) -> None:
    require_hy3dgen()
    settings = configure()
    monkeypatch.setenv("HY3DGEN_MODELS", str(tmp_path / "hy3dgen-models"))
    state = HUNYUAN.availability(settings)
    expected = tmp_path / "hy3dgen-models" / "tencent" / "Hunyuan3D-2" / "hunyuan3d-dit-v2-0"
    assert state.reason.startswith(f"no weights at {expected}")
    assert "Hugging Face cache" in state.reason and "ORFEAS_HUNYUAN3D_MODEL_DIR" in state.reason


@pytest.mark.unit
def test_hunyuan3d_reports_a_broken_import(
    configure, tiny_hunyuan3d: Path, monkeypatch, tmp_path: Path, fresh_import_check
) -> None:
    # What PyPI's torchvision does beside a CPU build of torch: it fails while registering its ops.
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "hy3dgen.shapegen", raising=False)  # check afresh, not from memory
    settings = configure(hunyuan3d_model_dir=tiny_hunyuan3d, allow_cpu=True)
    state = HUNYUAN.availability(settings)
    assert not state.available
    assert (
        state.reason == "hy3dgen cannot be imported: RuntimeError: operator torchvision::nms does not exist"
    )


@pytest.mark.unit
def test_hunyuan3d_without_cuda_needs_cpu_allowed(configure, tiny_hunyuan3d: Path) -> None:
    settings = configure(hunyuan3d_model_dir=tiny_hunyuan3d)
    state = HUNYUAN.availability(settings)
    if _no_cuda():
        assert not state.available
        assert state.reason.startswith("no CUDA device") and "ORFEAS_ALLOW_CPU" in state.reason
    else:
        assert state.available
    assert HUNYUAN.availability(configure(hunyuan3d_model_dir=tiny_hunyuan3d, allow_cpu=True)).available


@pytest.mark.unit
def test_a_missing_cuda_index_is_named(configure, tiny_hunyuan3d: Path) -> None:
    settings = configure(hunyuan3d_model_dir=tiny_hunyuan3d, device="cuda:63")
    assert HUNYUAN.availability(settings).reason.startswith("no CUDA device cuda:63")


@pytest.mark.unit
def test_generate_refuses_before_any_work(configure, tmp_path: Path, disc_png: bytes) -> None:
    settings = configure(hunyuan3d_model_dir=tmp_path)
    seen: list[str] = []
    with pytest.raises(EngineUnavailable) as caught:
        orfeas.generate(
            disc_png, engine="hunyuan3d", progress=lambda stage, _f: seen.append(stage), settings=settings
        )
    assert caught.value.code == "engine_unavailable" and "hunyuan3d" in caught.value.message
    assert seen == []


@pytest.mark.unit
def test_orfeas_engines_lists_the_reason(configure, tmp_path: Path, capsys) -> None:
    require_hy3dgen()
    configure(hunyuan3d_model_dir=tmp_path)
    assert cli.main(["engines"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("hunyuan3d"))
    assert f"unavailable: no weights at {tmp_path / 'hunyuan3d-dit-v2-0'}" in line


@pytest.mark.unit
def test_texture_asked_for_where_it_cannot_run(configure, tiny_hunyuan3d: Path, disc_png: bytes) -> None:
    settings = configure(hunyuan3d_model_dir=tiny_hunyuan3d, device="cpu")
    with pytest.raises(EngineUnavailable, match=r"texture stage of 'hunyuan3d' cannot run here: .*CUDA"):
        orfeas.generate(disc_png, engine="hunyuan3d", params={"texture": True, "steps": 1}, settings=settings)


# --- diffusion ------------------------------------------------------------------------------------


@pytest.mark.unit
def test_diffusion_without_the_package(configure, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configure()
    monkeypatch.setitem(sys.modules, "diffusers", None)
    assert DIFFUSION.availability(settings).reason.startswith("diffusers not installed")


@pytest.mark.unit
def test_diffusion_without_a_folder_says_which_setting(configure) -> None:
    require_diffusers()
    settings = configure()
    state = DIFFUSION.availability(settings)
    assert not state.available
    assert state.reason == "no text-to-image model: set ORFEAS_DIFFUSION_MODEL_DIR to a diffusers folder"


@pytest.mark.unit
def test_diffusion_names_a_folder_that_is_not_a_pipeline(configure, tmp_path: Path) -> None:
    require_diffusers()
    settings = configure(diffusion_model_dir=tmp_path)
    state = DIFFUSION.availability(settings)
    assert state.reason == f"no weights at {tmp_path} (no model_index.json: not a diffusers pipeline folder)"


@pytest.mark.unit
def test_diffusion_without_cuda_needs_cpu_allowed(configure, tiny_diffusion: Path) -> None:
    settings = configure(diffusion_model_dir=tiny_diffusion)
    state = DIFFUSION.availability(settings)
    assert state.available != _no_cuda()
    if not state.available:
        assert state.reason.startswith("no CUDA device")


@pytest.mark.unit
def test_text_to_image_refuses_before_any_work(configure) -> None:
    settings = configure()
    seen: list[str] = []
    with pytest.raises(EngineUnavailable, match="'diffusion' is unavailable"):
        orfeas.generate(
            text="a fox", text_to_image="diffusion", progress=lambda s, _f: seen.append(s), settings=settings
        )
    assert seen == []


# --- rembg ----------------------------------------------------------------------------------------


@pytest.mark.unit
def test_rembg_reasons(configure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_rembg: Path) -> None:
    settings = configure(models_dir=tmp_path / "models")
    assert rembg_state(settings).reason == f"no rembg model at {tmp_path / 'models' / 'u2netp.onnx'}"
    assert background_remover(settings) is None
    settings = configure(rembg_model_path=tmp_path / "u2net.onnx")
    assert rembg_state(settings).reason == f"no rembg model at {tmp_path / 'u2net.onnx'}"
    monkeypatch.setenv("REMBG_HOME", str(tmp_path / "elsewhere"))  # rembg's home rule does not apply
    settings = configure(rembg_model_path=tiny_rembg)
    assert rembg_state(settings).available and background_remover(settings) is not None
    monkeypatch.setitem(sys.modules, "rembg", None)
    assert rembg_state(settings).reason.startswith("rembg not installed")


@pytest.mark.unit
def test_without_any_neural_package_everything_imports_and_explains() -> None:
    blocked = ("torch", "torchvision", "hy3dgen", "diffusers", "transformers", "rembg", "onnxruntime")
    code = "\n".join(
        [
            "import sys",
            f"sys.modules.update(dict.fromkeys({blocked!r}))  # as if none were installed",
            "import orfeas.pipeline",
            "from orfeas.engines import all_engines, text_to_image_engines",
            "from orfeas.settings import Settings",
            "for engine in all_engines() + text_to_image_engines():",
            "    print(engine.name, '|', engine.availability(Settings()).reason)",
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORFEAS_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    reasons = dict(line.split(" | ", 1) for line in done.stdout.splitlines())
    assert reasons["relief"] == ""
    assert reasons["hunyuan3d"].startswith("hy3dgen not installed")
    assert reasons["diffusion"].startswith("torch not installed")
    code = "\n".join(
        [
            "import sys",
            "sys.modules['onnxruntime'] = None  # as if it were not installed",
            "from orfeas.imaging import mask_sources",
            "from orfeas.settings import Settings",
            "print({row['name']: row['reason'] for row in mask_sources(Settings())}['neural'])",
        ]
    )
    env["ORFEAS_MODELS_DIR"] = os.environ["ORFEAS_MODELS_DIR"]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    if "no model file" not in done.stdout:  # with the file placed, the missing runtime is the reason
        assert done.stdout.startswith("onnxruntime is not installed")
