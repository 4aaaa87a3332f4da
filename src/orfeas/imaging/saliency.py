"""The neural saliency map: U²-Netp (``u2netp.onnx``) run with onnxruntime on the CPU.

The network sees the picture at 320×320, scaled to [0, 1] by its maximum and normalised with the
ImageNet mean and spread (as U²-Net was trained), and answers how likely each pixel belongs to the
salient object, 0–1. One session per model file (and version of it) per process, with a capped
thread count so a worker pool does not oversubscribe the cores.

What runs the network is a :class:`Network`: our own session on the verified file in the models
directory, or — when ``ORFEAS_REMBG_MODEL_PATH`` names another U²-Net-family file and the optional
``rembg`` extra is installed — rembg's session on that file (:mod:`orfeas.imaging.background`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from orfeas.imaging.sources import neural_setup
from orfeas.settings import Settings

#: The network's input side (pixels).
INPUT_SIDE = 320
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class NetworkError(Exception):
    """The network's file cannot be loaded or run; the message says which file and why."""


@dataclass(frozen=True)
class Network:
    """How the neural mask runs here: ``predict(rgb) → (h, w) float32 saliency in [0, 1]`` at a
    size of the network's choosing (the caller resizes), and a name for the report."""

    name: str
    path: Path
    predict: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NetworkState:
    """The network when it can run here, else ``None`` and the reason."""

    network: Network | None
    reason: str = ""


def saliency_network(settings: Settings) -> NetworkState:
    """The network the neural mask uses with these settings, or why there is none.

    The checks (:func:`~orfeas.imaging.sources.neural_setup`) are cheap and come before anything
    is loaded: the file's size and MD5 (once per file version and process), the runtime's package.
    """
    setup = neural_setup(settings)
    if setup.problem or setup.path is None:
        return NetworkState(None, setup.problem)
    path, threads = setup.path, settings.mask_threads
    if setup.runner == "rembg":
        from orfeas.imaging.background import rembg_network

        return NetworkState(rembg_network(path, threads))
    return NetworkState(Network("u2netp", path, lambda rgb: u2netp_saliency(rgb, path, threads=threads)))


def u2netp_saliency(rgb: np.ndarray, path: Path, *, threads: int = 2) -> np.ndarray:
    """The saliency map (320×320 float32 in [0, 1]) of an (H, W, 3) uint8 picture."""
    stat = Path(path).stat()
    session = _session(str(Path(path).resolve()), stat.st_mtime, stat.st_size, threads)
    tensor = network_input(rgb)
    try:
        # Session.run is thread-safe in onnxruntime: worker threads share the one session.
        output = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: tensor})[0]
    except Exception as exc:  # onnxruntime raises its own error types for a graph that cannot run
        raise NetworkError(f"{path} cannot be run: {type(exc).__name__}: {exc}") from exc
    return np.clip(output[0, 0], 0.0, 1.0).astype(np.float32)


def network_input(rgb: np.ndarray) -> np.ndarray:
    """1×3×320×320 float32: scaled to [0, 1] by the picture's maximum, then ImageNet-normalised."""
    small = cv2.resize(rgb[..., :3], (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    scaled = small.astype(np.float32) / max(float(small.max()), 1e-6)
    return np.ascontiguousarray(((scaled - _MEAN) / _STD).transpose(2, 0, 1)[None])


@lru_cache(maxsize=2)
def _session(path: str, mtime: float, size: int, threads: int) -> Any:
    """One onnxruntime session per model file version in this process."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: the cores are shared with the other workers' meshing.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: the reason reaches the caller as an exception
    try:
        return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged or foreign file: onnxruntime's own error types
        raise NetworkError(f"{path} is not a loadable ONNX model: {type(exc).__name__}: {exc}") from exc
