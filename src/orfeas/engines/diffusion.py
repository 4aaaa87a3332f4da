"""``diffusion``: text → picture with a local diffusers pipeline (optional extra ``diffusion``).

This is not a 3D engine — it makes the picture a 3D engine then builds from, as lettering does
for name plates — so it is not in ``get_engine()``; the registry lists it apart
(``orfeas.engines.text_to_image_engines()``). It lives beside the engines because it is one of the
neural models they manage the same way (:mod:`orfeas.engines.gpu`: device, memory cap, one cached
model per process, out of memory → ``gpu_oom``) and shares their availability/parameters shape.

The pipeline folder (``ORFEAS_DIFFUSION_MODEL_DIR``; e.g. an SD-Turbo-class model saved with
``save_pretrained``) is loaded with ``local_files_only=True`` and the hubs switched offline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from orfeas.engines import gpu
from orfeas.engines.base import Availability, ProgressCallback, no_progress
from orfeas.errors import EngineUnavailable
from orfeas.settings import Settings

if TYPE_CHECKING:
    import numpy as np

#: Appended to the prompt when ``object_prompt`` is on: the 3D engines need one subject on a plain
#: background to cut out.
OBJECT_SUFFIX = "a single object, centred, whole, on a plain white background, studio lighting"


def _p(unit: str | None = None) -> dict[str, Any]:
    return {"unit": unit} if unit else {}


class DiffusionParameters(BaseModel):
    """Parameters of the text → image step; defaults suit SD-Turbo-class models (few steps, no
    guidance). A classic Stable Diffusion folder wants about 25 steps and guidance 7."""

    model_config = ConfigDict(extra="forbid", title="diffusion parameters")

    steps: int = Field(4, ge=1, le=100, description="Denoising steps.", json_schema_extra=_p())
    guidance_scale: float = Field(
        0.0,
        ge=0.0,
        le=30.0,
        description="Prompt strength (0: none, as turbo models want).",
        json_schema_extra=_p(),
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Same seed, same picture.", json_schema_extra=_p())
    width: int = Field(
        512, ge=64, le=2048, multiple_of=8, description="Picture width.", json_schema_extra=_p("px")
    )
    height: int = Field(
        512, ge=64, le=2048, multiple_of=8, description="Picture height.", json_schema_extra=_p("px")
    )
    negative_prompt: str = Field("", max_length=300, description="What the picture should not show.")
    object_prompt: bool = Field(
        True,
        description="Ask for one object on a plain background (what 3D engines need).",
        json_schema_extra=_p(),
    )


@dataclass
class Picture:
    """A generated picture (8-bit RGBA, opaque) and the facts a job report keeps about it."""

    rgba: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)


class DiffusionTextToImage:
    """A diffusers text-to-image pipeline from a local folder."""

    name: ClassVar[str] = "diffusion"
    version: ClassVar[str] = "1.0"
    parameters_model: ClassVar[type[BaseModel]] = DiffusionParameters

    def availability(self, settings: Settings) -> Availability:
        return _availability(settings)

    def paint(
        self,
        text: str,
        params: BaseModel,
        settings: Settings,
        progress: ProgressCallback = no_progress,
    ) -> Picture:
        """The picture for ``text``; progress is reported in the ``decode`` stage, step by step."""
        assert isinstance(params, DiffusionParameters)
        prompt = _prompt(text, params, settings)
        state = _availability(settings)
        if not state.available:
            raise EngineUnavailable(f"Text to image 'diffusion' is unavailable: {state.reason}")
        folder = Path(settings.diffusion_model_dir).expanduser()  # type: ignore[arg-type]
        device = gpu.choose_device(settings).device
        assert device is not None
        import torch

        def stepped(pipe: Any, step: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            progress("decode", min(1.0, (step + 1) / params.steps))
            return tensors

        started = time.perf_counter()
        notes: dict[str, Any] = {
            "method": "diffusion",
            "model": str(folder),
            "device": device,
            "prompt": prompt,
        }
        key = (str(folder.resolve()), (folder / "model_index.json").stat().st_mtime, device)
        with gpu.MODELS.use(self.name, key, lambda: _load(folder, device, settings)) as loaded:
            if loaded.load_seconds is not None:
                notes["model_load_s"] = round(loaded.load_seconds, 3)
            with gpu.oom_guard(self.name, device):
                result = loaded.model(
                    prompt=prompt,
                    negative_prompt=params.negative_prompt or None,
                    num_inference_steps=params.steps,
                    guidance_scale=params.guidance_scale,
                    width=params.width,
                    height=params.height,
                    generator=torch.Generator().manual_seed(params.seed),
                    output_type="np",
                    callback_on_step_end=stepped,
                )
        import numpy as np

        rgb = np.clip(np.asarray(result.images[0]) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        rgba = np.dstack([rgb[..., :3], np.full(rgb.shape[:2], 255, np.uint8)])
        notes.update(params.model_dump(mode="json"), seconds=round(time.perf_counter() - started, 3))
        return Picture(rgba=rgba, notes=notes)


def _availability(settings: Settings) -> Availability:
    for package in ("torch", "diffusers", "transformers"):
        if not gpu.installed(package):
            return Availability(False, f"{package} not installed (pip install 'orfeas[diffusion]')")
    if settings.diffusion_model_dir is None:
        return Availability(
            False, "no text-to-image model: set ORFEAS_DIFFUSION_MODEL_DIR to a diffusers folder"
        )
    folder = Path(settings.diffusion_model_dir).expanduser()
    if not (folder / "model_index.json").is_file():
        return Availability(
            False, f"no weights at {folder} (no model_index.json: not a diffusers pipeline folder)"
        )
    choice = gpu.choose_device(settings)
    if choice.device is None:
        return Availability(False, choice.reason)
    return Availability(True)


def _prompt(text: str, params: DiffusionParameters, settings: Settings) -> str:
    """The prompt, checked as typeset text is (empty, too long, control characters)."""
    from orfeas.imaging.lettering import checked_text  # Pillow: not needed to list engines

    text = checked_text(text, settings, one_line=True)
    return f"{text}, {OBJECT_SUFFIX}" if params.object_prompt else text


def _load(folder: Path, device: str, settings: Settings) -> Any:
    """The folder's pipeline class (from model_index.json), local files only."""

    def load() -> Any:
        from diffusers import DiffusionPipeline

        try:  # diffusers renamed ``torch_dtype`` to ``dtype``: pass the name this version takes
            from diffusers.utils.deprecation_utils import _TORCH_DTYPE_DEPRECATION_MESSAGE  # noqa: F401

            dtype = {"dtype": gpu.dtype_for(device)}
        except ImportError:
            dtype = {"torch_dtype": gpu.dtype_for(device)}
        pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True, **dtype).to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return gpu.load_local("Text to image 'diffusion'", folder, device, settings, load)
