"""Background removal with rembg, from a model file on this machine (optional extra ``rembg``).

rembg is used only when the package is installed and ``ORFEAS_REMBG_MODEL_PATH`` names an ONNX
file. The session is rembg's custom one (``u2net_custom``, U²-Net input and output) opened on that
explicit path — never one of rembg's named sessions, which download their model. Without it the
mask step uses GrabCut, and the report's ``mask_method`` says which one ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from orfeas.extras import installed
from orfeas.settings import Settings

#: ``remover(rgb)``: (H, W, 3) uint8 → (H, W) uint8 foreground probability (255: subject).
Remover = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class RemoverState:
    """Whether rembg can run here and, when it cannot, exactly why."""

    available: bool
    reason: str = ""


def rembg_state(settings: Settings) -> RemoverState:
    """Check the package, the model file and rembg's own rule on where custom models may live."""
    path = settings.rembg_model_path
    if path is None:
        return RemoverState(False, "ORFEAS_REMBG_MODEL_PATH is not set")
    if not installed("rembg") or not installed("onnxruntime"):
        return RemoverState(False, "rembg not installed (pip install 'orfeas[rembg]')")
    path = Path(path).expanduser()
    if not path.is_file():
        return RemoverState(False, f"no rembg model at {path}")
    from rembg.sessions.u2net_custom import U2netCustomSession

    # Recent rembg releases open custom models only from inside their home folder.
    validate = getattr(U2netCustomSession, "validate_model_path", None)
    if validate is not None:
        try:
            validate(model_path=str(path))
        except ValueError as exc:
            return RemoverState(False, f"rembg refuses {path}: {exc} (set REMBG_HOME to its folder)")
    return RemoverState(True)


def background_remover(settings: Settings) -> Remover | None:
    """rembg as a :data:`Remover` when it can run here, else ``None`` (the caller uses GrabCut)."""
    if not rembg_state(settings).available:
        return None
    path = Path(settings.rembg_model_path).expanduser().resolve()  # type: ignore[arg-type]
    return partial(_predict, str(path), path.stat().st_mtime)


@lru_cache(maxsize=2)
def _session(path: str, mtime: float) -> Any:
    """One rembg session per model file (and version of it) in this process."""
    from rembg import new_session

    return new_session("u2net_custom", model_path=path)


def _predict(path: str, mtime: float, rgb: np.ndarray) -> np.ndarray:
    masks = _session(path, mtime).predict(Image.fromarray(np.ascontiguousarray(rgb[..., :3])))
    return np.asarray(masks[0].convert("L"), dtype=np.uint8)
