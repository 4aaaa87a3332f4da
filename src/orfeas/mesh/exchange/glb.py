"""Binary glTF with vertex colours or a texture, following the glTF conventions so the model drops into
Blender, three.js or a game engine at its real size and the right way up:

* unit: the metre — millimetres are scaled by 1/1000 on the way out and back on the way in;
* up axis: +Y — our meshes are Z-up (the printing convention) and are turned on the way out;
* ``COLOR_0`` is linear — our sRGB vertex colours are converted on the way out and back;
* a texture (the picture laid over the model from above, :mod:`orfeas.mesh.texture`) replaces
  the vertex colours when it carries more detail than they can;
* a colour print's parts are one mesh each, with a material of the part's colour.

A GLB from elsewhere is checked from its JSON chunk before trimesh reads it (:func:`read_glb`):
every accessor must lie inside the file (trimesh fills a bufferless one with ``count`` zeros, so
a 1 KB file could ask for gigabytes), and the triangles the scene places — a mesh counts once per
node that shows it — must be within the cap. Textures are not decoded.
"""

from __future__ import annotations

import base64
import io
import json
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh
from PIL import Image

from orfeas.errors import InputRejected
from orfeas.mesh.texture import PlanarTexture

if TYPE_CHECKING:
    from orfeas.mesh.parts import Part

MM_PER_METRE = 1000.0
#: Z-up millimetres → Y-up metres: (x, y, z) → (x, z, −y) / 1000.
_TO_GLTF = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, -1, 0, 0], [0, 0, 0, MM_PER_METRE]], dtype=np.float64)
_TO_GLTF /= MM_PER_METRE
_TO_GLTF[3, 3] = 1.0
#: Faces meeting at more than this angle keep a crisp edge in the shading.
CREASE_DEGREES = 50.0


def export_glb(
    mesh: trimesh.Trimesh, texture: PlanarTexture | None = None, parts: list[Part] | None = None
) -> bytes:
    """The mesh as binary glTF: with ``texture`` when it is sharper than the vertex colours (more
    texels than vertices), else with the vertex colours; a colour print as its ``parts``, each a
    mesh with a material of its colour."""
    if parts:
        scene = trimesh.Scene()
        for part in parts:
            linear = srgb_to_linear(np.asarray(part.colour, dtype=np.float64) / 255.0)
            material = trimesh.visual.material.PBRMaterial(
                name=part.name,
                baseColorFactor=[*np.round(linear * 255).astype(int).tolist(), 255],
                metallicFactor=0.0,
                roughnessFactor=0.8,
            )
            out = trimesh.Trimesh(
                part.mesh.vertices,
                part.mesh.faces,
                visual=trimesh.visual.TextureVisuals(material=material),
                process=False,
            )
            out.apply_transform(_TO_GLTF)
            out.vertex_normals = _unit_normals(out)
            scene.add_geometry(out, node_name=part.name, geom_name=part.name)
        return trimesh.exchange.gltf.export_glb(scene, include_normals=True)
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


def load_glb(data: bytes, **options: Any) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False, **options)
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


def is_glb(data: bytes) -> bool:
    """A binary glTF 2 header."""
    return len(data) >= 20 and data[:4] == b"glTF" and struct.unpack_from("<I", data, 4)[0] == 2


def read_glb(data: bytes, max_faces: int | None = None) -> trimesh.Trimesh:
    """A GLB from elsewhere in millimetres, checked against ``max_faces`` from its layout first."""
    if max_faces is not None:
        faces, vertices = placed_size(data)
        if faces > max_faces:
            raise InputRejected(
                f"The GLB file's scene holds {faces:,} triangles; the limit is {max_faces:,}.",
                code="too_large",
            )
        if vertices > 3 * max_faces:
            raise InputRejected(
                f"The GLB file's scene holds {vertices:,} vertices; at most {3 * max_faces:,} are accepted.",
                code="too_large",
            )
    return load_glb(data, skip_materials=True)


_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
_MAX_NODE_DEPTH = 64


def placed_size(data: bytes) -> tuple[int, int]:
    """(triangles, vertices) a GLB holds — the larger of the scene's (a mesh counts once per node
    that places it) and its meshes' once each — after checking every accessor lies within its
    buffer; :class:`InputRejected` (``corrupt``) when the layout is broken."""
    try:
        return _placed_size(_json_chunk(data), data)
    except InputRejected:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, struct.error) as exc:
        raise InputRejected(
            f"The GLB file's layout is damaged ({type(exc).__name__}).", code="corrupt"
        ) from exc


def _json_chunk(data: bytes) -> dict[str, Any]:
    length = struct.unpack_from("<I", data, 8)[0]
    json_length, kind = struct.unpack_from("<II", data, 12)
    if length != len(data) or kind != 0x4E4F534A or 20 + json_length > len(data):
        raise InputRejected("The GLB file's header does not match its length.", code="corrupt")
    try:
        tree = json.loads(data[20 : 20 + json_length])
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise InputRejected("The GLB file's JSON is damaged.", code="corrupt") from exc
    if not isinstance(tree, dict):
        raise InputRejected("The GLB file's JSON is not an object.", code="corrupt")
    tree["_bin"] = _bin_chunk_length(data, 20 + json_length)
    return tree


def _bin_chunk_length(data: bytes, at: int) -> int:
    at += -at % 4
    if at + 8 > len(data):
        return 0
    length, kind = struct.unpack_from("<II", data, at)
    if kind != 0x004E4942 or at + 8 + length > len(data):
        raise InputRejected("The GLB file's binary chunk does not fit the file.", code="corrupt")
    return int(length)


def _placed_size(tree: dict[str, Any], data: bytes) -> tuple[int, int]:
    required = set(tree.get("extensionsRequired", []))
    if required:
        raise InputRejected(
            f"The GLB file needs extensions we do not read ({', '.join(sorted(map(str, required)))}).",
            code="corrupt",
        )
    buffers = [_buffer_length(b, tree["_bin"]) for b in tree.get("buffers", [])]
    views = []
    for view in tree.get("bufferViews", []):
        start, length = int(view.get("byteOffset", 0)), int(view["byteLength"])
        if start < 0 or length < 0 or start + length > buffers[int(view["buffer"])]:
            raise InputRejected("A GLB buffer view lies outside its buffer.", code="corrupt")
        views.append((length, int(view.get("byteStride", 0))))
    counts = [_accessor_count(a, views) for a in tree.get("accessors", [])]

    mesh_faces, mesh_vertices = [], []
    for mesh in tree.get("meshes", []):
        faces = vertices = 0
        for primitive in mesh["primitives"]:
            points = counts[int(primitive["attributes"]["POSITION"])]
            corners = counts[int(primitive["indices"])] if "indices" in primitive else points
            mode = int(primitive.get("mode", 4))
            faces += corners // 3 if mode == 4 else max(0, corners - 2) if mode in (5, 6) else 0
            vertices += points
        mesh_faces.append(faces)
        mesh_vertices.append(vertices)

    nodes = tree.get("nodes", [])
    placed = _placements(tree, nodes)
    faces = sum(n * mesh_faces[int(nodes[i]["mesh"])] for i, n in placed.items())
    vertices = sum(n * mesh_vertices[int(nodes[i]["mesh"])] for i, n in placed.items())
    # Meshes no node shows are still read: they count too (the larger figure is what is held).
    return max(faces, sum(mesh_faces)), max(vertices, sum(mesh_vertices))


def _buffer_length(buffer: dict[str, Any], bin_length: int) -> int:
    uri = buffer.get("uri")
    if uri is None:
        held = bin_length
    elif isinstance(uri, str) and uri.startswith("data:") and ";base64," in uri:
        held = len(base64.b64decode(uri.split(",", 1)[1], validate=True))
    else:
        raise InputRejected(
            "The GLB file refers to external files, which cannot be uploaded.", code="corrupt"
        )
    if int(buffer["byteLength"]) > held:
        raise InputRejected("A GLB buffer claims more bytes than the file holds.", code="corrupt")
    return int(buffer["byteLength"])


def _accessor_count(accessor: dict[str, Any], views: list[tuple[int, int]]) -> int:
    count = int(accessor["count"])
    if count < 0:
        raise InputRejected("A GLB accessor has a negative count.", code="corrupt")
    if "bufferView" not in accessor or "sparse" in accessor:
        raise InputRejected("The GLB file has data without a buffer (sparse or compressed).", code="corrupt")
    length, stride = views[int(accessor["bufferView"])]
    element = _COMPONENT_BYTES[int(accessor["componentType"])] * _TYPE_COMPONENTS[accessor["type"]]
    end = int(accessor.get("byteOffset", 0)) + (count - 1) * (stride or element) + element
    if count and end > length:
        raise InputRejected("A GLB accessor reads past the end of its buffer view.", code="corrupt")
    return count


def _placements(tree: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[int, int]:
    """node index → how many times the default scene places it, for the nodes that show a mesh.

    glTF nodes form trees, so a scene visits each node at most once; more visits mean a node with
    two parents (a fan-out that multiplies), and depth past :data:`_MAX_NODE_DEPTH` a cycle."""
    scenes = tree.get("scenes", [])
    if scenes:
        roots = [int(n) for n in scenes[int(tree.get("scene", 0))].get("nodes", [])]
    else:
        children = {int(c) for node in nodes for c in node.get("children", [])}
        roots = [i for i in range(len(nodes)) if i not in children]
    placed: dict[int, int] = {}
    total = 0
    stack = [(root, 0) for root in roots]
    while stack:
        index, depth = stack.pop()
        if depth > _MAX_NODE_DEPTH:
            raise InputRejected("The GLB file's nodes nest too deep (or in a cycle).", code="corrupt")
        node = nodes[index]
        total += 1
        if total > len(nodes):
            raise InputRejected(
                "The GLB file's nodes are not a tree (a node has two parents).", code="corrupt"
            )
        if "mesh" in node:
            placed[index] = placed.get(index, 0) + 1
        stack.extend((int(child), depth + 1) for child in node.get("children", []))
    return placed
