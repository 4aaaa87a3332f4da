"""Binary glTF with vertex colours or a texture, following the glTF conventions so the model drops into
Blender, three.js or a game engine at its real size and the right way up:

* unit: the metre — millimetres are scaled by 1/1000 on the way out and back on the way in;
* up axis: +Y — our meshes are Z-up (the printing convention) and are turned on the way out;
* ``COLOR_0`` is linear — our sRGB vertex colours are converted on the way out and back;
* a texture (the picture laid over the model from above, :mod:`orfeas.mesh.texture`) replaces
  the vertex colours when it carries more detail than they can.
"""

from __future__ import annotations

import io

import numpy as np
import trimesh
from PIL import Image

from orfeas.mesh.texture import PlanarTexture

MM_PER_METRE = 1000.0
#: Z-up millimetres → Y-up metres: (x, y, z) → (x, z, −y) / 1000.
_TO_GLTF = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, MM_PER_METRE]], dtype=np.float64)
_TO_GLTF /= MM_PER_METRE
_TO_GLTF[3, 3] = 1.0
#: Faces meeting at more than this angle keep a crisp edge in the shading.
CREASE_DEGREES = 50.0


def export_glb(mesh: trimesh.Trimesh, texture: PlanarTexture | None = None) -> bytes:
    """The mesh as binary glTF: with ``texture`` when it is sharper than the vertex colours (more
    texels than vertices), else with the vertex colours."""
    if texture is not None and texture.image.shape[0] * texture.image.shape[1] > len(mesh.vertices):
        out = _textured(mesh, texture)
    else:
        out = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        colours = _vertex_colours(mesh)
        if colours is not None:
            linear = colours.copy()
            linear[:, :3] = np.round(srgb_to_linear(colours[:, :3] / 255.0) * 255.0).astype(np.uint8)
            out.visual.vertex_colors = linear
    out.apply_transform(_TO_GLTF)
    out.vertex_normals = _unit_normals(out)
    return trimesh.exchange.gltf.export_glb(trimesh.Scene(out), include_normals=True)


def _unit_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """Vertex normals of unit length, as glTF requires, that keep creases crisp: each vertex
    averages (by area) only the faces within :data:`CREASE_DEGREES` of its largest face, so a
    flat plate stays flat up to its edge instead of shading toward its walls. A vertex only
    slivers of no area touch takes +y (up in glTF)."""
    faces = np.asarray(mesh.faces, dtype=np.int64)
    face_normals = np.asarray(mesh.face_normals, dtype=np.float64)
    areas = np.asarray(mesh.area_faces, dtype=np.float64)
    corner = faces.ravel()
    corner_area = np.repeat(areas, 3)
    largest = np.zeros(len(mesh.vertices))
    np.maximum.at(largest, corner, corner_area)
    owner = np.full(len(mesh.vertices), -1, dtype=np.int64)
    is_largest = corner_area >= largest[corner]
    owner[corner[is_largest]] = np.repeat(np.arange(len(faces)), 3)[is_largest]
    primary = face_normals[np.maximum(owner, 0)]
    corner_normal = np.repeat(face_normals, 3, axis=0)
    near = np.einsum("ij,ij->i", corner_normal, primary[corner]) >= np.cos(np.radians(CREASE_DEGREES))
    normals = np.zeros((len(mesh.vertices), 3))
    np.add.at(normals, corner[near], corner_normal[near] * corner_area[near, None])
    length = np.linalg.norm(normals, axis=1)
    bad = ~(length > 1e-12)
    normals[bad] = [0.0, 1.0, 0.0]
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _textured(mesh: trimesh.Trimesh, texture: PlanarTexture) -> trimesh.Trimesh:
    """The mesh with the picture projected straight down onto it. A wall's top and bottom share
    their (x, y), so it takes the colour under its outline — the picture's colours reach a few
    texels past every outline (:mod:`orfeas.mesh.texture`), so that is the shape's own colour."""
    image = Image.fromarray(np.ascontiguousarray(texture.image[..., :3]), "RGB")
    material = trimesh.visual.material.PBRMaterial(
        baseColorTexture=image, metallicFactor=0.0, roughnessFactor=0.8
    )
    visual = trimesh.visual.TextureVisuals(uv=texture.uv(np.asarray(mesh.vertices)), material=material)
    return trimesh.Trimesh(mesh.vertices, mesh.faces, visual=visual, process=False)


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
