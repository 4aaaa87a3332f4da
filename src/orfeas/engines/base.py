"""The one interface every generation engine implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ValidationError

from orfeas.errors import EngineUnavailable, invalid
from orfeas.settings import Settings

if TYPE_CHECKING:  # numpy and trimesh are loaded by the engines' work, not by this interface
    import numpy as np
    import trimesh

    from orfeas.mesh.fidelity import Intent
    from orfeas.mesh.parts import Part

ModelT = TypeVar("ModelT", bound=BaseModel)

#: ``progress(stage, fraction)``: called at stage boundaries (fraction in [0, 1] within the stage).
#: A callback may raise :class:`orfeas.errors.Cancelled` to stop the engine between stages.
ProgressCallback = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """A progress callback that ignores everything."""


@dataclass(frozen=True)
class Availability:
    """Whether an engine can run here and, when it cannot, a sentence saying exactly why."""

    available: bool
    reason: str = ""


@dataclass
class EngineInput:
    """What an engine is given: an 8-bit RGBA image (H, W, 4) and facts about its foreground.

    ``mask_edit`` is a user's painted correction of the subject mask: an 8-bit (h, w) image of
    any size (scaled to the picture's), dark = background, light = subject, mid-grey = leave it
    to the mask source (:func:`orfeas.imaging.apply_edit`).
    """

    rgba: np.ndarray
    source: Literal["image", "text"] = "image"
    mask_edit: np.ndarray | None = None


@dataclass
class EngineOutput:
    """A closed mesh and what the engine wants to say about it.

    ``units`` is ``"mm"`` when the engine already built the mesh at its final size (the pipeline
    then leaves the scale alone) or ``"model"`` when the pipeline must scale it to ``size_mm``.
    Vertex colours, when known, are in ``mesh.visual.vertex_colors``. ``intent`` is what the engine
    meant to build (:class:`orfeas.mesh.fidelity.Intent`), placed like ``mesh``: the pipeline
    measures the final mesh against it. ``parts``: a colour print's parts
    (:class:`orfeas.mesh.parts.Part`, in extruder order), placed like ``mesh``, which is their union.
    """

    mesh: trimesh.Trimesh
    units: Literal["mm", "model"] = "mm"
    intent: Intent | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    parts: list[Part] | None = None


@runtime_checkable
class Engine(Protocol):
    """An image → mesh generator. Engines are stateless apart from loaded models; what they need
    of the configuration (weights folders, device) comes in the ``settings`` they are given."""

    name: ClassVar[str]
    version: ClassVar[str]
    parameters_model: ClassVar[type[BaseModel]]

    def availability(self, settings: Settings) -> Availability: ...

    def generate(
        self,
        source: EngineInput,
        params: BaseModel,
        settings: Settings,
        progress: ProgressCallback = no_progress,
    ) -> EngineOutput: ...


def parameters_schema(engine: Engine) -> dict[str, Any]:
    """The JSON schema of an engine's parameters (ranges, defaults, units in descriptions)."""
    return engine.parameters_model.model_json_schema()


def validate_parameters(engine: Engine, raw: dict[str, Any]) -> BaseModel:
    """Check ``raw`` against the engine's parameter model; the first problem becomes an error."""
    return validate_model(engine.parameters_model, raw)


def validate_model(model: type[ModelT], raw: dict[str, Any]) -> ModelT:
    """``model.model_validate(raw)``, its first problem raised as :class:`InputRejected`."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid(exc) from exc


def require_available(engine: Any, settings: Settings) -> None:
    """Raise :class:`EngineUnavailable` with the engine's own reason when it cannot run here."""
    state = engine.availability(settings)
    if not state.available:
        raise EngineUnavailable(f"Engine '{engine.name}' is unavailable: {state.reason}")
