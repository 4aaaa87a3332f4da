"""The typed errors ORFEAS raises across packages; the API maps each ``code`` to an HTTP status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic is loaded by whoever validates; importing the errors stays free
    from pydantic import ValidationError


class OrfeasError(Exception):
    """Base class: ``code`` is a stable machine-readable reason, ``message`` a sentence for people."""

    code: str = "internal"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def __str__(self) -> str:
        return self.message


#: The codes an :class:`InputRejected` carries: why an input could not be used.
INPUT_CODES = (
    "empty",
    "too_large",  # bytes
    "too_many_pixels",
    "unsupported_type",
    "corrupt",
    "invalid_parameter",
    "no_subject",
    "unknown_engine",
)


class InputRejected(OrfeasError):
    """The input (image bytes, text, parameters) cannot be used. ``code`` says why: one of
    :data:`INPUT_CODES` (the command line adds ``usage``)."""

    code = "invalid_input"


class EngineUnavailable(OrfeasError):
    """The engine cannot run on this host; the message says exactly why."""

    code = "engine_unavailable"


class MeshInvalid(OrfeasError):
    """A mesh failed verification; it is never written."""

    code = "mesh_invalid"


class Cancelled(OrfeasError):
    """Raised from a progress callback to stop a generation between stages."""

    code = "cancelled"


class GpuOutOfMemory(OrfeasError):
    """A neural engine ran out of GPU memory; ``memory`` holds the device's figures in bytes."""

    code = "gpu_oom"

    def __init__(self, message: str, *, memory: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.memory = dict(memory or {})


def first_problem(
    problems: Sequence[Mapping[str, Any]], *, prefix: str | None = None, skip: Iterable[str] = ()
) -> tuple[str | None, str]:
    """(field, reason) of the first of pydantic's problems (``ValidationError.errors()``, or
    FastAPI's request errors): the field as ``a.b`` under ``prefix``, location parts in ``skip``
    (FastAPI's ``body``, ``query``…) left out; the reason as pydantic says it."""
    first = problems[0] if problems else {"loc": (), "msg": "invalid"}
    skipped = set(skip)
    path = [str(p) for p in first.get("loc", ()) if p not in skipped]
    field = ".".join([prefix, *path] if prefix else path) or prefix
    return field, str(first.get("msg", "invalid")).removeprefix("Value error, ")


def invalid(exc: ValidationError, *, prefix: str | None = None) -> InputRejected:
    """A pydantic ``ValidationError`` as the :class:`InputRejected` a person reads: its first
    problem, naming the field (``prefix.field`` when the model sits under ``prefix``)."""
    field, reason = first_problem(exc.errors(), prefix=prefix)
    message = f"Parameter '{field}': {reason}." if field else f"Parameters: {reason}."
    return InputRejected(message, code="invalid_parameter", field=field)
