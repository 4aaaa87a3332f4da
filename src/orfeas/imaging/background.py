"""Background removal with rembg (optional extra ``rembg``), always from a file on this machine.

rembg's session opens ``ORFEAS_REMBG_MODEL_PATH`` when it is set (any U²-Net-family ONNX file,
e.g. the full U²-Net), else the same ``u2netp.onnx`` the neural mask runs in the models
directory. It is rembg's own custom session class (``u2net_custom``: U²-Net's input and output)
with one change: the file is the one we name — rembg's ``download_models`` never runs, and its
rule that custom files live under ``REMBG_HOME`` does not apply, since the path comes from the
operator's settings, not from a request.

The neural mask runs through rembg only when ``ORFEAS_REMBG_MODEL_PATH`` is set (see
:func:`orfeas.imaging.sources.neural_setup`); otherwise it runs ``u2netp.onnx`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from orfeas.imaging.saliency import Network, NetworkError
from orfeas.imaging.sources import rembg_file
from orfeas.settings import Settings

#: ``remover(rgb)``: (H, W, 3) uint8 → (H, W) uint8 foreground probability (255: subject).
Remover = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RemoverState:
    """Whether rembg can run here and, when it cannot, exactly why."""

    available: bool
    reason: str = ""
    path: Path | None = None


def rembg_state(settings: Settings) -> RemoverState:
    """Check the package and the model file (``rembg_model_path``, else the models directory's u2netp)."""
    path, problem = rembg_file(settings)
    return RemoverState(not problem, problem, None if problem else path)


def background_remover(settings: Settings) -> Remover | None:
    """rembg as a :data:`Remover` when it can run here, else ``None``."""
    state = rembg_state(settings)
    if not state.available or state.path is None:
        return None
    path, mtime, threads = str(state.path), state.path.stat().st_mtime, settings.mask_threads

    def remove(rgb: np.ndarray) -> np.ndarray:
        return _predict(path, mtime, threads, rgb)

    return remove


def rembg_network(path: Path, threads: int) -> Network:
    """The neural mask's network: ``path`` run through rembg's session."""
    name, mtime = str(path), path.stat().st_mtime

    def predict(rgb: np.ndarray) -> np.ndarray:
        return _predict(name, mtime, threads, rgb).astype(np.float32) / 255.0

    return Network(f"rembg u2net_custom ({path.name})", path, predict)


@lru_cache(maxsize=2)
def _session(path: str, mtime: float, threads: int) -> Any:
    """One rembg session per model file (and version of it) in this process."""
    import onnxruntime as ort
    from rembg.sessions.u2net_custom import U2netCustomSession

    class LocalFileSession(U2netCustomSession):
        """rembg's custom U²-Net session on exactly the file we name (no download, no home rule)."""

        @classmethod
        def download_models(cls, *args: Any, **kwargs: Any) -> str:
            return str(kwargs["model_path"])

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: the cores are shared with the other workers' meshing.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return LocalFileSession("u2net_custom", options, model_path=path, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a damaged or foreign file: onnxruntime's own error types
        raise NetworkError(f"rembg cannot load {path}: {type(exc).__name__}: {exc}") from exc


def _predict(path: str, mtime: float, threads: int, rgb: np.ndarray) -> np.ndarray:
    session = _session(path, mtime, threads)
    try:
        masks = session.predict(Image.fromarray(np.ascontiguousarray(rgb[..., :3])))
    except Exception as exc:  # a graph of the wrong shape fails here, in onnxruntime
        raise NetworkError(f"rembg cannot run {path}: {type(exc).__name__}: {exc}") from exc
    return np.asarray(masks[0].convert("L"), dtype=np.uint8)
