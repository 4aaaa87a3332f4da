"""A picture laid over a model from above (planar projection), for formats that carry textures.

Vertex colours blur where triangles are large (an extruded name plate has a few thousand faces);
a texture keeps the picture sharp. The projection is straight down, so the top and the bottom
show the picture and every side wall takes the colour of the outline it stands on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlanarTexture:
    """``image`` (8-bit RGB, row 0 at the top) covering the (x, y) box ``bounds_mm``
    = (x_min, y_min, x_max, y_max) of the model, seen from above."""

    image: np.ndarray
    bounds_mm: tuple[float, float, float, float]

    def uv(self, vertices: np.ndarray) -> np.ndarray:
        """Texture coordinates of each vertex (trimesh's convention, v = 0 at the image's bottom;
        its glTF writer flips v)."""
        x0, y0, x1, y1 = self.bounds_mm
        u = (vertices[:, 0] - x0) / max(x1 - x0, 1e-12)
        v = (vertices[:, 1] - y0) / max(y1 - y0, 1e-12)
        return np.clip(np.column_stack([u, v]), 0.0, 1.0)

    def moved(self, dx: float, dy: float) -> PlanarTexture:
        x0, y0, x1, y1 = self.bounds_mm
        return PlanarTexture(self.image, (x0 + dx, y0 + dy, x1 + dx, y1 + dy))
