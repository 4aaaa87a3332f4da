"""The optional extras (``orfeas[hunyuan3d]``, ``[diffusion]``, ``[rembg]``, ``[scale]``): whether a
package is installed, found without importing it (a leaf: it imports nothing of ORFEAS)."""

from __future__ import annotations

import importlib.util


def installed(module: str) -> bool:
    """True when ``module`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
