"""Reading mesh files from strangers: the format is sniffed from the bytes, sizes are checked
against caps before anything is parsed, and whatever is wrong becomes one typed error.

Hostile files this guards against: a zero-byte file, a binary STL whose triangle count lies, an
ASCII STL with millions of facets, an OBJ whose faces point past its vertices, NaN or infinite
coordinates, a 3MF whose zip expands to gigabytes.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile

import numpy as np
import trimesh

from orfeas.errors import InputRejected
from orfeas.mesh.exchange import glb, obj, ply, stl, threemf

#: File formats a mesh file can be read from.
MODEL_FORMATS = ("stl", "obj", "ply", "glb", "3mf")
#: Largest uncompressed 3MF model part accepted, as a multiple of the file's size cap.
_ZIP_RATIO = 20

_UNIT_TO_MM = {
    "millimeter": 1.0,
    "millimeters": 1.0,
    "mm": 1.0,
    "centimeter": 10.0,
    "cm": 10.0,
    "meter": 1000.0,
    "meters": 1000.0,
    "m": 1000.0,
    "inch": 25.4,
    "inches": 25.4,
    "in": 25.4,
    "foot": 304.8,
    "micron": 0.001,
}


def sniff_model_format(data: bytes) -> str | None:
    """The mesh format named by the content, or ``None``."""
    if data.startswith(b"glTF"):
        return "glb"
    if data.startswith(b"PK\x03\x04"):
        return "3mf"
    if data.startswith(b"ply"):
        return "ply"
    if len(data) >= 84:
        count = struct.unpack_from("<I", data, 80)[0]
        if len(data) == 84 + 50 * count:
            return "stl"
    head = data[:4096].lstrip()
    if head[:5].lower() == b"solid" and b"facet" in data[:65536]:
        return "stl"
    if re.search(rb"(?m)^\s*v\s+[-+0-9.eE]+\s+[-+0-9.eE]+\s+[-+0-9.eE]+", head):
        return "obj"
    if head[:5].lower() == b"solid" or (len(data) >= 84 and not head.startswith((b"#", b"v"))):
        return "stl"  # a binary STL whose count does not fit its length: reported as truncated below
    return None


def read_model(data: bytes, *, max_bytes: int, max_faces: int) -> tuple[trimesh.Trimesh, dict[str, object]]:
    """Parse an untrusted mesh file into one mesh (in the file's units) and facts about it.

    The facts hold ``format``, ``units`` (as declared, when the format can say) and
    ``scale_to_mm`` (1 when unknown). Raises :class:`InputRejected` with a reason code.
    """
    if not data:
        raise InputRejected("The file is empty.", code="empty")
    if len(data) > max_bytes:
        raise InputRejected(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.", code="too_large"
        )
    fmt = sniff_model_format(data)
    if fmt is None:
        raise InputRejected(
            "This file is not a mesh we can read. Use STL, OBJ, PLY, GLB or 3MF.", code="unsupported_type"
        )
    _check_declared_size(data, fmt, max_bytes, max_faces)
    try:
        mesh = _LOADERS[fmt](data)
    except InputRejected:
        raise
    except Exception as exc:  # parsers raise anything from IndexError to KeyError on broken files
        raise InputRejected(
            f"The {fmt.upper()} file is damaged and cannot be read ({type(exc).__name__}).", code="corrupt"
        ) from exc
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.faces)
    if len(faces) == 0:
        raise InputRejected("The file holds no triangles.", code="corrupt")
    if len(faces) > max_faces:
        raise InputRejected(
            f"The mesh has {len(faces):,} triangles; the limit is {max_faces:,}.", code="too_large"
        )
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InputRejected("The file's faces refer to vertices that do not exist.", code="corrupt")
    if not np.all(np.isfinite(vertices)):
        raise InputRejected(
            "The file has coordinates that are not numbers (NaN or infinity).", code="corrupt"
        )
    units = getattr(mesh, "units", None)
    scale = _UNIT_TO_MM.get(str(units).lower(), 1.0) if units else 1.0
    return mesh, {"format": fmt, "units": units, "scale_to_mm": scale}


def _check_declared_size(data: bytes, fmt: str, max_bytes: int, max_faces: int) -> None:
    """Reject from the header or a cheap scan, before a parser allocates anything."""
    if fmt == "stl":
        count = struct.unpack_from("<I", data, 80)[0] if len(data) >= 84 else -1
        if len(data) >= 84 and len(data) == 84 + 50 * count:
            faces = count
        elif data[:4096].lstrip()[:5].lower() == b"solid" and b"facet" in data[:65536]:
            faces = data.count(b"facet")  # ASCII: count before parsing (an ASCII bomb stops here)
        else:
            held = max(0, len(data) - 84) // 50
            raise InputRejected(
                f"The STL file claims {max(count, 0):,} triangles but holds {held:,}: "
                "it is truncated or damaged.",
                code="corrupt",
            )
    elif fmt == "obj":
        faces = len(re.findall(rb"(?m)^\s*f\s", data))
        if faces <= max_faces:
            _check_obj_indices(data)
    elif fmt == "ply":
        match = re.search(rb"element face (\d+)", data[:4096])
        faces = int(match.group(1)) if match else 0
    elif fmt == "3mf":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            expanded = sum(info.file_size for info in archive.infolist())
        except zipfile.BadZipFile as exc:
            raise InputRejected("The 3MF file is damaged (not a valid zip).", code="corrupt") from exc
        if expanded > _ZIP_RATIO * max_bytes:
            raise InputRejected("The 3MF file expands to more than we accept.", code="too_large")
        faces = 0
    else:
        faces = 0
    if faces > max_faces:
        raise InputRejected(
            f"The mesh has {faces:,} triangles; the limit is {max_faces:,}.", code="too_large"
        )


def _check_obj_indices(data: bytes) -> None:
    """Every face index of an OBJ must name an existing vertex (1-based, or negative from the end)."""
    vertices = len(re.findall(rb"(?m)^\s*v\s", data))
    for line in re.findall(rb"(?m)^\s*f\s+([^\r\n]*)", data):
        for token in line.split():
            head = token.split(b"/", 1)[0]
            try:
                index = int(head)
            except ValueError:
                raise InputRejected(
                    "The OBJ file has a face that is not a list of numbers.", code="corrupt"
                ) from None
            if index == 0 or abs(index) > vertices:
                raise InputRejected(
                    f"The OBJ file's faces refer to vertex {index}, but it has {vertices} vertices.",
                    code="corrupt",
                )


def _load_glb(data: bytes) -> trimesh.Trimesh:
    # A GLB from elsewhere is in metres like ours; glb.load_glb converts it to millimetres.
    return glb.load_glb(data)


_LOADERS = {
    "stl": stl.load_stl,
    "obj": obj.load_obj,
    "ply": ply.load_ply,
    "glb": _load_glb,
    "3mf": threemf.load_3mf,
}
