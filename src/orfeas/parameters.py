"""The base of every parameter model ORFEAS takes from a client (a leaf: pydantic only).

pydantic, in its default lax mode, reads a JSON ``true`` as the number 1: ``"guidance_scale":
false`` would quietly mean 0. A :class:`Parameters` model refuses a boolean wherever a number is
expected, naming the field; numbers written as text (``"80"``, as every multipart field arrives)
are still read.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationInfo, field_validator


class Parameters(BaseModel):
    """A pydantic model whose number fields do not take ``true``/``false``."""

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        if (
            isinstance(value, bool)
            and info.field_name
            and _is_number(cls.model_fields[info.field_name].annotation)
        ):
            raise ValueError("must be a number, not true or false")
        return value


def _is_number(annotation: Any) -> bool:
    """``int``, ``float``, or an optional one (``float | None``)."""
    if annotation in (int, float):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_number(a) for a in typing.get_args(annotation) if a is not type(None))
    return False
