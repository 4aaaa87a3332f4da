"""``hunyuan3d``: Tencent Hunyuan3D-2 image → shape through its PyPI package ``hy3dgen``.

Optional extra ``hunyuan3d``. Stages as the pipeline names them:

* ``mask`` — the subject is cut out (alpha, rembg when set up, else GrabCut) and handed to
  hy3dgen as an RGBA picture; its own preprocessor recentres it.
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
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import trimesh
from pydantic import BaseModel, ConfigDict, Field

from orfeas.engines import gpu
from orfeas.engines.base import Availability, EngineInput, EngineOutput, ProgressCallback, no_progress
from orfeas.errors import EngineUnavailable, GpuOutOfMemory, MeshInvalid
from orfeas.imaging.background import background_remover
from orfeas.imaging.mask import foreground_mask
from orfeas.mesh.closing import close_mesh, surface_from_field
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.raster import PixelGrid
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


class Hunyuan3DParameters(BaseModel):
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
    remove_background: bool = Field(
        True, description="Cut the subject out first (alpha, rembg or GrabCut).", json_schema_extra=_p()
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
        return _availability(settings)

    def generate(
        self,
        source: EngineInput,
        params: BaseModel,
        settings: Settings,
        progress: ProgressCallback = no_progress,
    ) -> EngineOutput:
        assert isinstance(params, Hunyuan3DParameters)
        state = _availability(settings, import_check=False)  # the import itself is the check here
        if not state.available:
            raise EngineUnavailable(f"Engine 'hunyuan3d' is unavailable: {state.reason}")
        weights = find_weights(settings)
        device = gpu.choose_device(settings).device
        assert isinstance(weights, Weights) and device is not None
        if params.texture:
            reason = texture_problem(weights, device)
            if reason:
                raise EngineUnavailable(f"The texture stage of 'hunyuan3d' cannot run here: {reason}.")
        import torch

        timings: dict[str, float] = {}
        clock = time.perf_counter()
        notes: dict[str, Any] = {"device": device, "weights": str(weights.checkpoint)}

        progress("mask", 0.0)
        picture = _cut_out(source.rgba, params, notes, settings)
        timings["mask"], clock = time.perf_counter() - clock, time.perf_counter()

        progress("height", 0.0)
        surface = _ClosedSurface(progress)

        def stepped(step: int, _t: Any, _out: Any) -> None:
            progress("height", min(1.0, (step + 1) / params.steps))

        key = (str(weights.checkpoint), weights.checkpoint.stat().st_mtime, device)
        with gpu.MODELS.use(self.name, key, lambda: _load(weights, device, settings)) as loaded:
            if loaded.load_seconds is not None:
                notes["model_load_s"] = round(loaded.load_seconds, 3)
            pipe = loaded.model
            pipe.vae.surface_extractor = surface  # upstream's documented hook for the extractor
            with gpu.oom_guard(self.name, device):
                meshes = pipe(
                    image=picture,
                    num_inference_steps=params.steps,
                    guidance_scale=params.guidance_scale,
                    generator=torch.Generator().manual_seed(params.seed),
                    box_v=BOX,
                    mc_level=LEVEL,
                    octree_resolution=params.octree_resolution,
                    num_chunks=params.num_chunks,
                    output_type="trimesh",
                    enable_pbar=False,
                    callback=stepped,
                    callback_steps=1,
                )
        timings["height"] = time.perf_counter() - clock - surface.seconds
        clock = time.perf_counter()
        raw = meshes[0] if meshes else None
        if raw is None or len(raw.faces) == 0:
            raise MeshInvalid(
                f"hunyuan3d's field has no surface at level {LEVEL} on a {params.octree_resolution}³ grid; "
                "try another seed or picture."
            )
        closed = close_mesh(_z_up(raw), min_body_share=FLOATER_SHARE if params.remove_floaters else 0.0)
        notes["raw_faces"] = len(raw.faces)
        notes["closing"] = closed.report.as_dict()
        mesh = closed.mesh
        if params.texture:
            mesh = _texture(mesh, picture, weights, device, notes)
        notes["texture"] = "painted" if params.texture else "off"
        timings["mesh"] = time.perf_counter() - clock + surface.seconds
        # All a picture says about a generated shape: its silhouette, seen from the front.
        subject = np.asarray(picture)[..., 3] >= 128
        intent = Intent(PixelGrid(subject.shape, 1.0, (0.0, 0.0)), subject, view="front", fit=True)
        return EngineOutput(mesh=mesh, units="model", intent=intent, notes=notes, timings=timings)


# --- availability ---------------------------------------------------------------------------------


def _availability(settings: Settings, *, import_check: bool = True) -> Availability:
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
    """The snapshot folder of ``repo_id`` in the Hugging Face cache, looked up without network."""
    if not gpu.installed("huggingface_hub"):
        return None
    gpu.go_offline()
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[f"{subfolder}/*"], local_files_only=True))
    except Exception:  # not cached (the library's error type differs between versions)
        return None


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


# --- the stages -----------------------------------------------------------------------------------


def _cut_out(rgba: np.ndarray, params: Hunyuan3DParameters, notes: dict[str, Any], settings: Settings) -> Any:
    """The picture as hy3dgen wants it: RGBA with a transparent background, at most
    :data:`PICTURE_SIDE` on its longer side (upstream works at 512 px)."""
    import cv2
    from PIL import Image

    h, w = rgba.shape[:2]
    scale = min(1.0, PICTURE_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = rgba if scale == 1.0 else cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    picture = small.copy()
    if params.remove_background:
        found = foreground_mask(small, remover=background_remover(settings))
        notes.update(mask_method=found.method, mask_confidence=round(found.confidence, 3))
        picture[..., 3] = np.where(found.mask, 255, 0).astype(np.uint8)
    else:
        picture[..., 3] = 255
        notes["mask_method"] = "none"
    return Image.fromarray(picture, "RGBA")


def _load(weights: Weights, device: str, settings: Settings) -> Any:
    """Upstream's loader on the files we found (``from_pretrained`` would fall back to the hub)."""
    gpu.go_offline()
    gpu.cap_memory(device, settings.gpu_memory_fraction)
    try:
        from hy3dgen.shapegen import Hunyuan3DDiTFlowMatchingPipeline
    except Exception as exc:  # e.g. a torchvision built for another torch
        problem = f"{type(exc).__name__}: {exc}"
        raise EngineUnavailable(
            f"Engine 'hunyuan3d' is unavailable: hy3dgen cannot be imported: {problem}"
        ) from exc
    try:
        with gpu.oom_guard("hunyuan3d", device):
            return Hunyuan3DDiTFlowMatchingPipeline.from_single_file(
                str(weights.checkpoint),
                str(weights.config),
                device=device,
                dtype=gpu.dtype_for(device),
                use_safetensors=weights.safetensors,
            )
    except GpuOutOfMemory:
        raise
    except Exception as exc:  # a missing, truncated or mismatched file: say which, never fetch it
        raise EngineUnavailable(
            f"Engine 'hunyuan3d' cannot load {weights.checkpoint}: {type(exc).__name__}: {exc}"
        ) from exc


@dataclass
class _Surface:
    """What upstream's exporter reads from a surface extractor's output."""

    mesh_v: np.ndarray
    mesh_f: np.ndarray


class _ClosedSurface:
    """A surface extractor for hy3dgen's VAE (``vae.surface_extractor``): closed marching cubes.

    Upstream flips the faces of whatever the extractor returns, so ours returns them pre-flipped.
    """

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.seconds = 0.0

    def __call__(self, grid_logits: Any, *, mc_level: float, bounds: Any, **_: Any) -> list[_Surface | None]:
        started = time.perf_counter()
        self.progress("mesh", 0.0)
        box = [-bounds] * 3 + [bounds] * 3 if isinstance(bounds, int | float) else list(bounds)
        outputs: list[_Surface | None] = []
        for field in grid_logits:
            mesh = surface_from_field(field.float().cpu().numpy(), mc_level, tuple(box))
            if mesh is None:
                outputs.append(None)
            else:
                outputs.append(
                    _Surface(np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces)[:, ::-1])
                )
        self.seconds += time.perf_counter() - started
        return outputs


def _z_up(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Hunyuan's meshes stand on y (glTF convention); the print bed is z: rotate +90° about x."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    turned = np.column_stack([vertices[:, 0], -vertices[:, 2], vertices[:, 1]])
    return trimesh.Trimesh(turned, np.asarray(mesh.faces), process=False)


def _texture(
    mesh: trimesh.Trimesh, picture: Any, weights: Weights, device: str, notes: dict[str, Any]
) -> Any:
    """Hunyuan3D-Paint, baked to vertex colours (our exports carry colour per vertex).

    Not exercised by the test suite (it needs CUDA and upstream's compiled rasterizer).
    """
    from hy3dgen.texgen import Hunyuan3DPaintPipeline

    root = str(weights.folder.parent)
    with (
        gpu.MODELS.use(
            "hunyuan3d-paint", (root, device), lambda: Hunyuan3DPaintPipeline.from_pretrained(root)
        ) as loaded,
        gpu.oom_guard("hunyuan3d", device),
    ):
        if loaded.load_seconds is not None:
            notes["paint_load_s"] = round(loaded.load_seconds, 3)
        painted = loaded.model(_z_down(mesh), image=picture)
    coloured = _z_up(painted)
    coloured.visual.vertex_colors = painted.visual.to_color().vertex_colors
    return coloured


def _z_down(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    turned = np.column_stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]])
    return trimesh.Trimesh(turned, np.asarray(mesh.faces), process=False)
