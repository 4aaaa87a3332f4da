"""What a user may ask of the mesh doctor (:mod:`orfeas.mesh.doctor`): light to import (pydantic
only), so listing what ORFEAS can do does not load the mesh code."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: A mesh file's unit → millimetres (files rarely say; STL never does).
UNITS_TO_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4}


class DoctorParameters(BaseModel):
    """What a user may ask of an analysis or repair (the CLI's flags, the API's fields)."""

    model_config = ConfigDict(extra="forbid")

    units: Literal["mm", "cm", "m", "in"] | None = Field(
        None, description="The file's units; default: as the file declares (3MF), else millimetres."
    )
    size_mm: float | None = Field(None, gt=0, le=10_000, description="Scale so the longest side is this.")
    target_faces: int | None = Field(None, ge=100, le=5_000_000, description="Simplify to about this.")
    lay_flat: bool = Field(False, description="Rest the largest flat face on the bed.")
    max_volume_loss: float = Field(
        0.02, ge=0, le=1, description="Fail rather than remove more than this share of the volume."
    )
