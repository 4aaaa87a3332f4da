"""What a job makes: one typed, versioned :class:`JobSpec`.

A spec says everything that decides a job's result: the task, the engine and its parameters,
the formats to write, and — for a text — the text and how it becomes a picture. Clients send a
partial one (any field may be left out); :func:`orfeas.admission.admit` checks it once, against
the engine's schema and the product's rules below, and returns it complete: engine named,
parameters with every default filled in, formats listed. That complete spec is what the job store
keeps (one JSON value), what a worker carries, what :func:`orfeas.pipeline.run` builds and what
the result cache hashes. Adding a job option is one field here and its use where it is built.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import ConfigDict, Field

from orfeas.mesh.formats import FORMATS, OUTPUT_FORMATS, PARTS_ZIP, Format, OutputFormat
from orfeas.parameters import Parameters

#: generate a model from a picture or text; analyze or repair a mesh brought to us; paint a text
#: into a picture with a neural step (the original ORFEAS's /api/text-to-image, run as a job).
Task = Literal["generate", "analyze", "repair", "paint"]
TASKS: tuple[str, ...] = Task.__args__  # type: ignore[attr-defined]
MESH_TASKS = ("analyze", "repair")

__all__ = ["FORMATS", "OUTPUT_FORMATS", "Format", "JobSpec", "OutputFormat", "default_formats"]
#: The name mesh jobs show as their engine: the mesh doctor, not a generation engine.
DOCTOR = "doctor"

#: What a job starts from: a picture, a text, or a mesh file (see :attr:`JobSpec.input_kind`).
INPUT_KINDS = ("image", "text", "model")
#: The stored file of a job's painted mask edit (:attr:`JobSpec.mask_edit`), beside its picture.
MASK_EDIT_NAME = "mask-edit.png"

#: How a text becomes a picture: typeset (built in, offline) or painted by a local model.
TextToImage = Literal["lettering", "diffusion"]

#: Product rules, in one place: what a typeset text makes with each engine unless the client says
#: otherwise (a name plate), and what a mesh job writes by default. The studio reads these from
#: ``GET /api/v1/engines`` (``rules``) instead of keeping its own copy.
TEXT_DEFAULTS: dict[str, dict[str, Any]] = {"relief": {"mode": "extrude", "depth_mm": 1.5}}


MESH_DEFAULT_FORMATS: dict[str, tuple[str, ...]] = {
    "analyze": ("glb",),  # an analysis keeps the mesh as it is, for viewing
    "repair": FORMATS,  # a repair gives every printable format
}


def default_formats(params: dict[str, Any]) -> tuple[str, ...]:
    """What a picture or text job writes unless it says: every mesh format, and for a colour print
    (``colors`` above 1, or a ``palette``) also the ZIP of one STL per colour."""
    coloured = int(params.get("colors") or 1) > 1 or bool(params.get("palette"))
    return (*FORMATS, PARTS_ZIP) if coloured else FORMATS


class JobSpec(Parameters):
    """What a job makes. Sent partial by clients; complete once admitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(1, description="Version of this description (stored with every job).")
    task: Task = Field("generate", description="What the job does.")
    engine: str | None = Field(None, description="Engine name; default: the server's default engine.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The engine's (or mesh task's) parameters."
    )
    formats: tuple[OutputFormat, ...] | None = Field(
        None,
        min_length=1,
        description="Files to make; default: every mesh format, and for a colour print the ZIP of one STL "
        "per colour (stl.zip); a mesh analysis: glb.",
    )
    text: str | None = Field(None, description="A text instead of a picture; '\\n' for new lines.")
    lettering: dict[str, Any] | None = Field(
        None, description="How a typeset text is set: size_px, line_spacing, align, outline_px, border_px…"
    )
    text_to_image: TextToImage = Field(
        "lettering",
        description="How the text becomes a picture: typeset (lettering), or painted by a local diffusion "
        "model (the text is then a prompt; see text_to_image in GET /api/v1/engines).",
    )
    diffusion: dict[str, Any] | None = Field(
        None, description="Options of the diffusion step: steps, guidance_scale, seed, width, height…"
    )
    mask_edit: bool = Field(
        False,
        description="The picture comes with a painted correction of its subject mask (the multipart "
        "file field `mask_edit`; kept with the job as mask-edit.png). Set by admission, not by clients.",
    )

    @property
    def typeset(self) -> bool:
        """A text set in type (a name plate), not painted."""
        return self.text is not None and self.text_to_image == "lettering"

    @property
    def painted(self) -> bool:
        """A text a neural step paints into the picture."""
        return self.text is not None and self.text_to_image != "lettering"

    @property
    def input_kind(self) -> str:
        """What the job starts from: ``image``, ``text`` or ``model`` (a mesh file)."""
        if self.task in MESH_TASKS:
            return "model"
        return "text" if self.text is not None else "image"

    def to_json(self) -> bytes:
        """The spec as canonical JSON (sorted keys): how it is stored and hashed."""
        return orjson.dumps(self.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_json(cls, data: bytes | str) -> JobSpec:
        return cls.model_validate(orjson.loads(data))
