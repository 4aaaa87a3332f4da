"""The work of ``hunyuan3d`` (see :mod:`orfeas.engines.hunyuan3d`): cut-out → hy3dgen's shape model
→ ORFEAS' closed surface → optional texture. Imported on the first generation only: it brings
numpy, trimesh, torch and hy3dgen, which listing engines never needs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import trimesh

from orfeas.engines import gpu
from orfeas.engines.base import EngineInput, EngineOutput, ProgressCallback
from orfeas.engines.hunyuan3d import (
    BOX,
    FLOATER_SHARE,
    LEVEL,
    PICTURE_SIDE,
    Hunyuan3DParameters,
    Weights,
    check_availability,
    find_weights,
    texture_problem,
)
from orfeas.errors import EngineUnavailable, MeshInvalid
from orfeas.imaging.mask import subject_mask
from orfeas.mesh.closing import close_mesh, surface_from_field
from orfeas.mesh.fidelity import Intent
from orfeas.mesh.raster import PixelGrid
from orfeas.settings import Settings

NAME = "hunyuan3d"


def generate_shape(
    source: EngineInput, params: Hunyuan3DParameters, settings: Settings, progress: ProgressCallback
) -> EngineOutput:
    """One generation, as :meth:`orfeas.engines.hunyuan3d.Hunyuan3DEngine.generate` describes."""
    state = check_availability(settings, import_check=False)  # the import itself is the check here
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
    picture = _cut_out(source.rgba, source.mask_edit, params, notes, settings)
    timings["mask"], clock = time.perf_counter() - clock, time.perf_counter()

    progress("height", 0.0)
    surface = _ClosedSurface(progress)

    def stepped(step: int, _t: Any, _out: Any) -> None:
        progress("height", min(1.0, (step + 1) / params.steps))

    key = (str(weights.checkpoint), weights.checkpoint.stat().st_mtime, device)
    with gpu.MODELS.use(NAME, key, lambda: _load(weights, device, settings)) as loaded:
        if loaded.load_seconds is not None:
            notes["model_load_s"] = round(loaded.load_seconds, 3)
        pipe = loaded.model
        pipe.vae.surface_extractor = surface  # upstream's documented hook for the extractor
        with gpu.oom_guard(NAME, device):
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


# --- the stages -----------------------------------------------------------------------------------


def _cut_out(
    rgba: np.ndarray,
    edit: np.ndarray | None,
    params: Hunyuan3DParameters,
    notes: dict[str, Any],
    settings: Settings,
) -> Any:
    """The picture as hy3dgen wants it: RGBA with a transparent background, at most
    :data:`PICTURE_SIDE` on its longer side (upstream works at 512 px)."""
    import cv2
    from PIL import Image

    h, w = rgba.shape[:2]
    scale = min(1.0, PICTURE_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = rgba if scale == 1.0 else cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    picture = small.copy()
    if params.mask == "none" and edit is None:
        picture[..., 3] = 255
        notes["mask_method"] = "none"
    else:
        found = subject_mask(small, params.mask, settings, edit=edit, side=max(small.shape[:2]))
        notes.update(found.notes())
        picture[..., 3] = np.where(found.mask, 255, 0).astype(np.uint8)
    return Image.fromarray(picture, "RGBA")


def _load(weights: Weights, device: str, settings: Settings) -> Any:
    """Upstream's loader on the files we found (``from_pretrained`` would fall back to the hub)."""

    def load() -> Any:
        try:
            from hy3dgen.shapegen import Hunyuan3DDiTFlowMatchingPipeline
        except Exception as exc:  # e.g. a torchvision built for another torch
            problem = f"{type(exc).__name__}: {exc}"
            raise EngineUnavailable(
                f"Engine 'hunyuan3d' is unavailable: hy3dgen cannot be imported: {problem}"
            ) from exc
        return Hunyuan3DDiTFlowMatchingPipeline.from_single_file(
            str(weights.checkpoint),
            str(weights.config),
            device=device,
            dtype=gpu.dtype_for(device),
            use_safetensors=weights.safetensors,
        )

    return gpu.load_local("Engine 'hunyuan3d'", weights.checkpoint, device, settings, load)


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
