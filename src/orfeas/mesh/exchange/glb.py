"""Binary glTF with vertex colours, following the glTF conventions so the model drops into
Blender, three.js or a game engine at its real size and the right way up:

* unit: the metre — millimetres are scaled by 1/1000 on the way out and back on the way in;
* up axis: +Y — our meshes are Z-up (the printing convention) and are turned on the way out;
* ``COLOR_0`` is linear — our sRGB vertex colours are converted on the way out and back.
"""

from __future__ import annotations

import io

import numpy as np
import trimesh

MM_PER_METRE = 1000.0
#: Z-up millimetres → Y-up metres: (x, y, z) → (x, z, −y) / 1000.
_TO_GLTF = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, MM_PER_METRE]], dtype=np.float64)
_TO_GLTF /= MM_PER_METRE
_TO_GLTF[3, 3] = 1.0


def export_glb(mesh: trimesh.Trimesh) -> bytes:
    out = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    out.apply_transform(_TO_GLTF)
    colours = _vertex_colours(mesh)
    if colours is not None:
        linear = colours.copy()
        linear[:, :3] = np.round(srgb_to_linear(colours[:, :3] / 255.0) * 255.0).astype(np.uint8)
        out.visual.vertex_colors = linear
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(out), include_normals=True)


def load_glb(data: bytes) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False)
    mesh.apply_transform(np.linalg.inv(_TO_GLTF))
    colours = _vertex_colours(mesh)
    if colours is not None:
        srgb = colours.copy()
        srgb[:, :3] = np.round(linear_to_srgb(colours[:, :3] / 255.0) * 255.0).astype(np.uint8)
        mesh.visual.vertex_colors = srgb
    return mesh


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer function, inverted (values in [0, 1])."""
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (values in [0, 1])."""
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    if getattr(mesh.visual, "kind", None) == "vertex":
        return np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
    return None
