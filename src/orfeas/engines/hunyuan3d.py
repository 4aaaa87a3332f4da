"""``hunyuan3d``: Tencent Hunyuan3D-2 image → shape through its PyPI package ``hy3dgen``.

Optional extra ``hunyuan3d``. Stages as the pipeline names them:

* ``mask`` — the subject is cut out (the ``mask`` parameter: alpha, the neural mask or GrabCut,
  see :mod:`orfeas.imaging.mask`) and handed to hy3dgen as an RGBA picture; its own
  preprocessor recentres it.
* ``height`` — the flow-matching diffusion steps of the shape model (progress per step), then
  the VAE's decoding of an occupancy field on an ``octree_resolution``³ grid.
* ``mesh`` — the surface is extracted by :func:`orfeas.mesh.closing.surface_from_field` (closed by
  construction, where upstream leaves holes on the grid's box), then
  :func:`~orfeas.mesh.closing.close_mesh` orients the bodies and drops specks; the report says
  what that changed. Hunyuan's y-up frame becomes
  our z-up print bed. The optional texture stage runs only where hy3dgen's compiled texture
  parts import and a CUDA device is present; otherwise asking for it fails with the reason.

Weights never come from the network: the folder is ``ORFEAS_HUNYUAN3D_MODEL_DIR``, else
``$HY3DGEN_MODELS/<model id>/<subfolder>`` (upstream's own layout), else the Hugging Face cache
read offline. They are loaded with upstream's ``from_single_file`` from a file we found, so
upstream's hub fallback is never reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orfeas.engines import gpu
from orfeas.engines.base import Availability, EngineInput, EngineOutput, ProgressCallback, no_progress
from orfeas.imaging.sources import MaskSource  # light: no numpy, no OpenCV
from orfeas.parameters import Parameters
from orfeas.settings import Settings

#: Checkpoint names upstream publishes, in the order we prefer them.
CHECKPOINTS = ("model.fp16.safetensors", "model.safetensors", "model.fp16.ckpt", "model.ckpt")
#: Upstream's texture model folders, next to the shape folder.
TEXTURE_FOLDERS = ("hunyuan3d-paint-v2-0", "hunyuan3d-delight-v2-0")
#: Upstream's sampling box half-size and surface level (flow-matching pipeline defaults).
BOX = 1.01
LEVEL = 0.0
#: Longest side of the picture handed to hy3dgen (its preprocessor brings it to 512 px).
PICTURE_SIDE = 1024
#: Bodies below this share of the total volume are specks when ``remove_floaters`` is on.
FLOATER_SHARE = 0.01
INSTALL_HINT = "pip install torch and torchvision first, then 'orfeas[hunyuan3d]'"


def _p(unit: str | None = None) -> dict[str, Any]:
    return {"unit": unit} if unit else {}


class Hunyuan3DParameters(Parameters):
    """Parameters of ``hunyuan3d``; ranges are those of upstream's own app."""

    model_config = ConfigDict(extra="forbid", title="hunyuan3d parameters")

    size_mm: float = Field(
        80.0, ge=5, le=500, description="Longest side of the object.", json_schema_extra=_p("mm")
    )
    target_faces: int = Field(
        50_000, ge=1_000, le=1_000_000, description="Triangles in the finished mesh.", json_schema_extra=_p()
    )
    steps: int = Field(
        30,
        ge=1,
        le=100,
        description="Diffusion steps (upstream: 30; 5 for turbo models).",
        json_schema_extra=_p(),
    )
    guidance_scale: float = Field(
        5.0,
        ge=0.0,
        le=20.0,
        description="How strongly the shape follows the picture.",
        json_schema_extra=_p(),
    )
    seed: int = Field(1234, ge=0, le=10_000_000, description="Same seed, same shape.", json_schema_extra=_p())
    octree_resolution: int = Field(
        256,
        ge=16,
        le=512,
        description="Grid cells per side when the surface is extracted (memory grows with its cube).",
        json_schema_extra=_p("cells"),
    )
    num_chunks: int = Field(
        8_000,
        ge=1_000,
        le=5_000_000,
        description="Grid points decoded per batch (more: faster, more memory).",
        json_schema_extra=_p("points"),
    )
    mask: MaskSource = Field(
        "auto",
        description="How the subject is cut out before the shape model sees it: auto (alpha, else "
        "the neural mask, with GrabCut where it is surer), alpha, neural, grabcut, or none (keep the "
        "background).",
        json_schema_extra=_p(),
    )
    remove_floaters: bool = Field(
        True, description="Drop loose specks under 1 % of the volume.", json_schema_extra=_p()
    )
    texture: bool = Field(
        False,
        description="Paint colours with Hunyuan3D-Paint (needs CUDA and hy3dgen's compiled parts).",
        json_schema_extra=_p(),
    )


@dataclass(frozen=True)
class Weights:
    """A shape model found on disk."""

    folder: Path
    config: Path
    checkpoint: Path

    @property
    def safetensors(self) -> bool:
        return self.checkpoint.suffix == ".safetensors"


class Hunyuan3DEngine:
    """Hunyuan3D-2 shape generation; its raw surface goes through ORFEAS' closing and checks."""

    name: ClassVar[str] = "hunyuan3d"
    version: ClassVar[str] = "1.0"
    parameters_model: ClassVar[type[BaseModel]] = Hunyuan3DParameters

    def availability(self, settings: Settings) -> Availability:
        return check_availability(settings)

    def generate(
        self,
        source: EngineInput,
        params: BaseModel,
        settings: Settings,
        progress: ProgressCallback = no_progress,
    ) -> EngineOutput:
        assert isinstance(params, Hunyuan3DParameters)
        # torch, hy3dgen and the mesh code load on the first generation, never for listing engines
        from orfeas.engines.hunyuan3d_shape import generate_shape

        return generate_shape(source, params, settings, progress)


# --- availability ---------------------------------------------------------------------------------


def check_availability(settings: Settings, *, import_check: bool = True) -> Availability:
    """Cheap checks first: package, weights on disk, then the import and the device."""
    if not gpu.installed("hy3dgen"):
        return Availability(False, f"hy3dgen not installed ({INSTALL_HINT})")
    weights = find_weights(settings)
    if not isinstance(weights, Weights):
        return Availability(False, "no weights at " + "; ".join(weights))
    problem = import_problem() if import_check else ""
    if problem:
        return Availability(False, f"hy3dgen cannot be imported: {problem}")
    choice = gpu.choose_device(settings)
    if choice.device is None:
        return Availability(False, choice.reason)
    return Availability(True)


#: Run in a fresh interpreter by :func:`import_problem`; prints why the import failed.
_IMPORT_CHECK = """
import sys
try:
    import hy3dgen.shapegen
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
"""


@lru_cache(maxsize=1)
def import_problem() -> str:
    """Why ``hy3dgen.shapegen`` does not import here (empty when it does); once per process.

    Its conditioner imports torchvision, which must be the build made for the installed torch. The
    check runs in a separate interpreter: the import costs seconds and a gigabyte, and torch loaded
    beside pymeshlab's Qt outside the main thread (a service answering ``/engines``) makes the
    process abort at exit. Where the package is already loaded it evidently imports.
    """
    if "hy3dgen.shapegen" in sys.modules:
        return ""
    env = {**os.environ, **gpu.OFFLINE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_CHECK], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode == 0:
        return ""
    lines = done.stdout.strip().splitlines() or done.stderr.strip().splitlines()
    return lines[-1] if lines else f"the check exited with code {done.returncode}"


def find_weights(settings: Settings) -> Weights | list[str]:
    """The shape model on disk, or the places looked at (for the "no weights at …" reason)."""
    sub = settings.hunyuan3d_subfolder
    if settings.hunyuan3d_model_dir is not None:
        root = Path(settings.hunyuan3d_model_dir).expanduser()
        found = _weights_in(root / sub) or _weights_in(root)
        wanted = f"config.yaml and one of {', '.join(CHECKPOINTS)}"
        return found or [f"{root / sub} or {root} ({wanted})"]
    home = Path(os.environ.get("HY3DGEN_MODELS", "~/.cache/hy3dgen")).expanduser()
    found = _weights_in(home / settings.hunyuan3d_model_id / sub)
    if found is None:
        snapshot = _hub_cache(settings.hunyuan3d_model_id, sub)
        found = _weights_in(snapshot / sub) if snapshot else None
    return found or [
        str(home / settings.hunyuan3d_model_id / sub),
        f"the Hugging Face cache ({settings.hunyuan3d_model_id}/{sub}, offline)",
        "set ORFEAS_HUNYUAN3D_MODEL_DIR",
    ]


def _weights_in(folder: Path) -> Weights | None:
    config = folder / "config.yaml"
    if not config.is_file():
        return None
    for name in CHECKPOINTS:
        if (folder / name).is_file():
            return Weights(folder, config, folder / name)
    return None


def _hub_cache(repo_id: str, subfolder: str) -> Path | None:
    """The snapshot folder of ``repo_id`` in the Hugging Face cache, looked up on disk only.

    The cache's place comes from huggingface_hub itself (``HF_HUB_CACHE``, ``HF_HOME``…); its
    layout is the documented one: ``models--<org>--<name>/refs/main`` names the snapshot under
    ``snapshots/``. Importing all of huggingface_hub would cost a second for ``orfeas engines``.
    """
    if not gpu.installed("huggingface_hub"):
        return None
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    try:
        revision = (repo / "refs" / "main").read_text().strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / revision
    return snapshot if (snapshot / subfolder).is_dir() else None


def texture_problem(weights: Weights, device: str) -> str:
    """Why the texture stage cannot run (empty when it can)."""
    if not device.startswith("cuda"):
        return "Hunyuan3D-Paint needs a CUDA device"
    if not gpu.installed("custom_rasterizer"):
        return "custom_rasterizer (hy3dgen's compiled texture part, built from its repository) is missing"
    try:
        import hy3dgen.texgen  # noqa: F401
    except Exception as exc:
        return f"hy3dgen.texgen cannot be imported: {type(exc).__name__}: {exc}"
    missing = [
        str(weights.folder.parent / f) for f in TEXTURE_FOLDERS if not (weights.folder.parent / f).is_dir()
    ]
    if missing:
        return "no texture weights at " + ", ".join(missing)
    return ""
