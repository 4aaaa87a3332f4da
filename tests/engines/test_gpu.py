"""GPU management: the device rule, one cached model per engine and process, out of memory as a
typed job failure with figures, and the optional fallback to relief."""

from __future__ import annotations

import os
import threading
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

import orfeas
from orfeas import engines
from orfeas.engines import gpu
from orfeas.engines.base import Availability, EngineInput, EngineOutput
from orfeas.engines.relief import ReliefParameters
from orfeas.errors import GpuOutOfMemory
from orfeas.jobs.states import failure_reason
from orfeas.settings import Settings
from tests.conftest import require


def _torch() -> Any:
    require(gpu.installed("torch"), "torch is not installed (extras 'hunyuan3d', 'diffusion')")
    import torch

    return torch


def _cuda_count() -> int:
    torch = _torch()
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.unit
def test_device_rule() -> None:
    assert gpu.choose_device(Settings(device="cpu")).device == "cpu"
    auto = gpu.choose_device(Settings(device="auto"))
    allowed = gpu.choose_device(Settings(device="auto", allow_cpu=True))
    if _cuda_count():
        assert auto.device == allowed.device == "cuda:0"
    else:
        assert auto.device is None and auto.reason.startswith("no CUDA device")
        assert allowed.device == "cpu" and not allowed.is_cuda
    beyond = gpu.choose_device(Settings(device=f"cuda:{_cuda_count()}"))
    assert beyond.device is None and beyond.reason.startswith(f"no CUDA device cuda:{_cuda_count()}")


@pytest.mark.unit
def test_half_precision_only_on_the_gpu() -> None:
    torch = _torch()
    assert gpu.dtype_for("cpu") is torch.float32
    assert gpu.dtype_for("cuda:0") is torch.float16


@pytest.mark.unit
def test_settings_refuse_an_unknown_device() -> None:
    with pytest.raises(ValueError, match="device"):
        Settings(device="tpu")


@pytest.mark.unit
def test_models_load_once_and_tell_listeners() -> None:
    cache = gpu.ModelCache()
    loads: list[str] = []
    heard: list[tuple[str, float]] = []
    remove = gpu.on_model_loaded(lambda name, seconds: heard.append((name, seconds)))
    try:
        with cache.use("engine-a", ("w1", "cpu"), lambda: loads.append("w1") or "model-1") as first:
            assert first.model == "model-1" and first.load_seconds is not None
        with cache.use("engine-a", ("w1", "cpu"), lambda: loads.append("again") or "other") as second:
            assert second.model == "model-1" and second.load_seconds is None
        with cache.use("engine-a", ("w2", "cpu"), lambda: loads.append("w2") or "model-2") as third:
            assert third.model == "model-2"  # other weights replace the model, not add a second one
    finally:
        remove()
    assert loads == ["w1", "w2"]
    assert [name for name, _ in heard] == ["engine-a", "engine-a"]
    assert cache.loaded() == {"engine-a": {"key": ["w2", "cpu"], "load_seconds": pytest.approx(0, abs=1)}}


@pytest.mark.unit
def test_threads_take_turns_on_a_model() -> None:
    cache = gpu.ModelCache()
    inside, overlap = [0], []

    def work() -> None:
        with cache.use("engine", ("k",), object):
            inside[0] += 1
            overlap.append(inside[0])
            threading.Event().wait(0.01)
            inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap == [1, 1, 1, 1]


@pytest.mark.unit
@pytest.mark.parametrize(
    "error",
    [
        lambda: _torch().OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        lambda: RuntimeError("CUDA error: out of memory"),
    ],
    ids=["OutOfMemoryError", "RuntimeError"],
)
def test_out_of_memory_becomes_gpu_oom(error: Any) -> None:
    with pytest.raises(GpuOutOfMemory) as caught, gpu.oom_guard("hunyuan3d", "cpu"):
        raise error()
    assert caught.value.code == "gpu_oom" and caught.value.message == "hunyuan3d ran out of memory on cpu."
    assert failure_reason(caught.value).value == "gpu_oom"  # how the job layer records it


@pytest.mark.unit
def test_other_errors_pass_the_guard() -> None:
    with pytest.raises(ValueError), gpu.oom_guard("hunyuan3d", "cpu"):
        raise ValueError("not memory")


@pytest.mark.unit
def test_memory_figures_on_a_gpu() -> None:
    assert gpu.memory_figures("cpu") == {}
    if _cuda_count():  # only a host with a GPU has figures to check
        figures = gpu.memory_figures("cuda:0")
        assert set(figures) == {"allocated", "reserved", "free", "total"} and figures["total"] > 0


@pytest.mark.unit
def test_offline_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in gpu.OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    gpu.go_offline()
    assert all(os.environ[name] == "1" for name in gpu.OFFLINE_ENV)
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


# --- out of memory in a generation -------------------------------------------------------------------


class _OutOfMemoryEngine:
    """An engine whose model never fits: the real torch error, through the real guard."""

    name: ClassVar[str] = "too-big"
    version: ClassVar[str] = "0"
    parameters_model: ClassVar[type[BaseModel]] = ReliefParameters

    def availability(self, settings: Any) -> Availability:
        return Availability(True)

    def generate(
        self, source: EngineInput, params: BaseModel, settings: Any, progress: Any = None
    ) -> EngineOutput:
        with gpu.oom_guard(self.name, "cpu"):
            raise _torch().OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


@pytest.fixture
def too_big(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(engines._ENGINES, _OutOfMemoryEngine.name, _OutOfMemoryEngine())
    return _OutOfMemoryEngine.name


@pytest.mark.unit
def test_out_of_memory_fails_the_generation(too_big: str, disc_png: bytes, settings: Settings) -> None:
    with pytest.raises(GpuOutOfMemory):
        orfeas.generate(disc_png, engine=too_big, params={"target_faces": 2000}, settings=settings)


@pytest.mark.unit
def test_out_of_memory_falls_back_to_relief(too_big: str, disc_png: bytes, settings: Settings) -> None:
    settings = settings.model_copy(update={"gpu_oom_fallback": True})
    model = orfeas.generate(
        disc_png, engine=too_big, params={"target_faces": 2000, "size_mm": 40}, settings=settings
    )
    assert model.report["printable"] and model.report["engine"]["name"] == "relief"
    assert model.report["engine"]["fallback"] == {
        "from": "too-big",
        "reason": "gpu_oom",
        "message": "too-big ran out of memory on cpu.",
    }
    assert model.report["parameters"]["size_mm"] == 40 and model.report["parameters"]["target_faces"] == 2000
