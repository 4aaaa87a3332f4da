"""What neural engines share at run time: offline hubs, the device, a memory cap, one cached model
per engine and process, and CUDA out-of-memory turned into :class:`~orfeas.errors.GpuOutOfMemory`.

torch is imported inside the functions that need it, so importing this module costs nothing on a
host without the neural extras.

A worker process keeps each engine's model loaded between jobs (:class:`ModelCache`); loading
calls the listeners registered with :func:`on_model_loaded` — the service feeds its
"model loaded" gauge and load-time histogram from there, or from ``report["engine"]["model_load_s"]``
when the model was loaded in another process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orfeas.errors import EngineUnavailable, GpuOutOfMemory
from orfeas.extras import installed
from orfeas.settings import Settings

#: Environment switches that keep Hugging Face libraries from reaching the network.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

ModelLoadedListener = Callable[[str, float], None]
_listeners: list[ModelLoadedListener] = []
_capped: set[str] = set()


def load_local(what: str, where: Path | str, device: str, settings: Settings, load: Callable[[], Any]) -> Any:
    """``load()`` a model from files already on this machine, the one way every neural engine does.

    Hugging Face libraries are switched offline first and the device's memory is capped; running
    out of GPU memory stays :class:`GpuOutOfMemory`, and any other failure (a missing, truncated
    or mismatched file) becomes :class:`EngineUnavailable` naming ``what`` and ``where`` — never a
    download. ``what`` is how the message names the model (``"Engine 'hunyuan3d'"``).
    """
    go_offline()
    cap_memory(device, settings.gpu_memory_fraction)
    try:
        with oom_guard(what, device):
            return load()
    except (GpuOutOfMemory, EngineUnavailable):
        raise
    except Exception as exc:
        raise EngineUnavailable(f"{what} cannot load {where}: {type(exc).__name__}: {exc}") from exc


def go_offline() -> None:
    """Make every Hugging Face library in this process work from local files only.

    The variables are read when ``huggingface_hub`` is first imported, so they are set before any
    heavy import; if the hub library is already loaded its switch is turned on as well.
    """
    os.environ.update(OFFLINE_ENV)
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]


# --- device ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceChoice:
    """The torch device to use (``"cuda:0"``, ``"cpu"``) or ``None`` with the reason why none fits."""

    device: str | None
    reason: str = ""

    @property
    def is_cuda(self) -> bool:
        return bool(self.device and self.device.startswith("cuda"))


def choose_device(settings: Settings) -> DeviceChoice:
    """The device named by ``settings.device``; ``auto`` takes the first CUDA device, else the CPU
    when ``settings.allow_cpu`` is set."""
    if not installed("torch"):
        return DeviceChoice(None, "torch is not installed")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    wanted = settings.device
    if wanted == "cpu":
        return DeviceChoice("cpu")
    if wanted == "auto":
        if count:
            return DeviceChoice("cuda:0")
        if settings.allow_cpu:
            return DeviceChoice("cpu")
        return DeviceChoice(
            None,
            f"no CUDA device (torch {torch.__version__} sees none); set ORFEAS_ALLOW_CPU=true to run "
            "on the CPU, which is very slow with full-size weights",
        )
    index = int(wanted.partition(":")[2] or 0)
    if index >= count:
        seen = f"this host has {count}" if count else f"torch {torch.__version__} sees none"
        return DeviceChoice(None, f"no CUDA device {wanted} ({seen})")
    return DeviceChoice(f"cuda:{index}")


def dtype_for(device: str) -> Any:
    """Half precision on a GPU (what the published weights are), full precision on the CPU."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def cap_memory(device: str, fraction: float) -> None:
    """Limit this process to ``fraction`` of the GPU's memory (once per device; no-op on the CPU)."""
    if not device.startswith("cuda") or device in _capped:
        return
    import torch

    torch.cuda.set_per_process_memory_fraction(fraction, torch.device(device))
    _capped.add(device)


# --- out of memory ---------------------------------------------------------------------------------


def memory_figures(device: str) -> dict[str, int]:
    """Bytes allocated, reserved, free and total on a CUDA ``device`` (empty on the CPU)."""
    if not device.startswith("cuda"):
        return {}
    import torch

    dev = torch.device(device)
    free, total = torch.cuda.mem_get_info(dev)
    return {
        "allocated": int(torch.cuda.memory_allocated(dev)),
        "reserved": int(torch.cuda.memory_reserved(dev)),
        "free": int(free),
        "total": int(total),
    }


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's out-of-memory error (older torch raises a RuntimeError with that text)."""
    oom_type = getattr(sys.modules.get("torch"), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@contextmanager
def oom_guard(engine: str, device: str) -> Iterator[None]:
    """Turn an out-of-memory error inside the block into :class:`GpuOutOfMemory` with the figures,
    after releasing the cached blocks so the next job starts clean."""
    try:
        yield
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        figures = memory_figures(device)
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        mib = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in figures.items())
        detail = f" ({mib})" if mib else ""
        raise GpuOutOfMemory(f"{engine} ran out of memory on {device}{detail}.", memory=figures) from exc


# --- one model per engine and process ----------------------------------------------------------------


def on_model_loaded(listener: ModelLoadedListener) -> Callable[[], None]:
    """Call ``listener(engine, seconds)`` whenever a model finishes loading; returns the remover."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


@dataclass
class Loaded:
    """A model in use: ``load_seconds`` is set only when this use had to load it."""

    model: Any
    load_seconds: float | None = None


@dataclass
class _Slot:
    key: tuple[Any, ...] | None = None
    model: Any = None
    load_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """Keeps one model per engine name in this process, loaded lazily on first use.

    A use holds the engine's lock, so threads of one worker take turns on the model (diffusion
    schedulers keep state between steps). A different ``key`` (another weights folder or device)
    replaces the model rather than keeping two copies.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}
        self._guard = threading.Lock()

    @contextmanager
    def use(self, name: str, key: tuple[Any, ...], load: Callable[[], Any]) -> Iterator[Loaded]:
        with self._guard:
            slot = self._slots.setdefault(name, _Slot())
        with slot.lock:
            loaded_now = None
            if slot.key != key:
                slot.model, slot.key = None, None  # drop the old model before loading the new one
                started = time.perf_counter()
                slot.model = load()
                slot.key = key
                slot.load_seconds = loaded_now = time.perf_counter() - started
                for listener in list(_listeners):
                    listener(name, loaded_now)
            yield Loaded(slot.model, loaded_now)

    def loaded(self) -> dict[str, dict[str, Any]]:
        """What is in memory now: engine → its key and how long it took to load."""
        return {
            name: {"key": [str(k) for k in slot.key], "load_seconds": round(slot.load_seconds, 3)}
            for name, slot in self._slots.items()
            if slot.key is not None
        }

    def clear(self) -> None:
        """Forget every model (the memory is freed once nothing else refers to them)."""
        with self._guard:
            self._slots.clear()


#: The process-wide cache the neural engines use.
MODELS = ModelCache()
