"""Which subject-mask sources can run here, and why not — light on purpose (the standard library
and the settings only), so the engines' listing can say it without loading numpy or OpenCV.

The neural mask runs one file: ``ORFEAS_MODELS_DIR/u2netp.onnx`` with our own onnxruntime session
(checked by size and MD5), or — when ``ORFEAS_REMBG_MODEL_PATH`` is set — that file through
rembg's session (optional extra ``rembg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from orfeas.extras import installed
from orfeas.imaging.models import U2NETP, file_problem, model_path
from orfeas.settings import Settings

#: The engines' ``mask`` parameter: where the subject's outline comes from.
MaskSource = Literal["auto", "alpha", "neural", "grabcut", "none"]
MASK_SOURCES: tuple[str, ...] = get_args(MaskSource)
#: What made a mask (a report's ``mask_method``): a source, or ``whole`` (nothing could be told
#: from the background: the whole picture) or ``edit`` (a painted edit decided every pixel).
MaskMethod = Literal["alpha", "neural", "grabcut", "whole", "none", "edit"]
MASK_METHODS: tuple[str, ...] = get_args(MaskMethod)
#: How to place the model file (``make serve`` and ``make test`` run the same step).
PLACE_IT = "`python -m orfeas.imaging.models` places it"


@dataclass(frozen=True)
class NeuralSetup:
    """What the neural mask runs here — a file and who runs it — or why it cannot run."""

    path: Path | None
    runner: Literal["onnxruntime", "rembg"]
    problem: str = ""


def neural_setup(settings: Settings) -> NeuralSetup:
    """The neural mask's file and runner, checked without loading either."""
    if settings.rembg_model_path is not None:
        path, problem = rembg_file(settings)
        if problem:
            problem = f"ORFEAS_REMBG_MODEL_PATH is set but {problem}"
        return NeuralSetup(path, "rembg", problem)
    path = model_path(settings.models_dir)
    problem = _verified(*_stamp(path))
    if not problem and not installed("onnxruntime"):
        problem = "onnxruntime is not installed (pip install onnxruntime)"
    return NeuralSetup(path, "onnxruntime", problem)


def rembg_file(settings: Settings) -> tuple[Path, str]:
    """The file rembg opens (``rembg_model_path``, else the models directory's u2netp.onnx) and
    why it cannot (empty when it can)."""
    explicit = settings.rembg_model_path
    path = Path(explicit if explicit is not None else model_path(settings.models_dir)).expanduser()
    if not installed("rembg") or not installed("onnxruntime"):
        return path, "rembg not installed (pip install 'orfeas[rembg]')"
    if not path.is_file():
        return path, f"no rembg model at {path}"
    return path.resolve(), ""


def mask_sources(settings: Settings) -> list[dict[str, Any]]:
    """Each mask source, whether it can run here and why not (for ``auto``: what it falls back to);
    ``neural`` also names its model file and runner. For ``orfeas engines`` and the API."""
    setup = neural_setup(settings)
    neural: dict[str, Any] = {"name": "neural", "available": not setup.problem, "reason": setup.problem}
    if not setup.problem:
        neural.update(model=str(setup.path), runner=setup.runner)
    return [
        {
            "name": "auto",
            "available": True,
            "reason": f"GrabCut only: {setup.problem}" if setup.problem else "",
        },
        {"name": "alpha", "available": True, "reason": ""},
        neural,
        {"name": "grabcut", "available": True, "reason": ""},
        {"name": "none", "available": True, "reason": ""},
    ]


def _stamp(path: Path) -> tuple[str, float, int]:
    """(path, mtime, size): a replaced file gets a new check; (path, 0, -1) when it is absent."""
    try:
        stat = path.stat()
    except OSError:
        return str(path), 0.0, -1
    return str(path.resolve()), stat.st_mtime, stat.st_size


@lru_cache(maxsize=8)
def _verified(path: str, mtime: float, size: int) -> str:
    """Why the file is not u2netp.onnx (empty when it is); its MD5 is read once per file version."""
    problem = file_problem(Path(path), U2NETP)
    if problem.startswith("no model file"):
        if not Path(path).is_absolute():  # a CLI run from another folder looks in that folder
            problem += " (relative to the working directory; ORFEAS_MODELS_DIR names the folder)"
        return f"{problem}; {PLACE_IT}"
    if problem:
        return f"{problem}; `python -m orfeas.imaging.models` replaces it"
    return ""
