"""The typed errors ORFEAS raises across packages; the API maps each ``code`` to an HTTP status."""

from __future__ import annotations


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


class InputRejected(OrfeasError):
    """The input (image bytes, text, parameters) cannot be used. ``code`` says why.

    Codes: ``empty``, ``too_large`` (bytes), ``too_many_pixels``, ``unsupported_type``,
    ``corrupt``, ``invalid_parameter``, ``no_subject``.
    """

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
