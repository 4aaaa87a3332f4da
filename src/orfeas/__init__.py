"""ORFEAS: a picture or a line of text in, a watertight, print-ready 3D model out.

``orfeas.generate(...)`` is the whole pipeline as one function; see :mod:`orfeas.pipeline`.
``orfeas.mend(...)`` analyses or repairs a mesh brought from elsewhere. Both are imported on first
use, so ``import orfeas`` (and the ``orfeas`` command) starts without loading the mesh libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orfeas.version import VERSION as __version__

if TYPE_CHECKING:
    from orfeas.pipeline import Model, generate, mend

__all__ = ["Model", "__version__", "generate", "mend"]


def __getattr__(name: str) -> Any:
    if name in ("Model", "generate", "mend"):
        from orfeas import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'orfeas' has no attribute {name!r}")
