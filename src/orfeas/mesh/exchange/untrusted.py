"""Reading mesh files from strangers: the format is sniffed from the bytes (never the name), and
each format's reader stops at the face cap while it reads — before it builds arrays — so checking
an upload costs memory in proportion to what is accepted, not to what a file claims or expands to.

Hostile files this guards against: a zero-byte file, a binary STL whose triangle count lies, an
ASCII STL with millions of facets, an OBJ whose faces point past its vertices, NaN or infinite
coordinates, a 3MF of 3 M triangles in 234 KB, a 3MF whose zip expands to gigabytes, a GLB whose
accessors ask for more than the file holds, and any other file (a PDF, a picture) sent as a mesh.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable

import numpy as np
import trimesh

from orfeas.errors import InputRejected
from orfeas.mesh.exchange import glb, obj, ply, stl, threemf

#: File formats a mesh file can be read from.
MODEL_FORMATS = ("stl", "obj", "ply", "glb", "3mf")
_OBJ_LINE = re.compile(rb"(?m)^[ \t]*(v|f)[ \t]+[-+0-9.]")

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
    """The mesh format the content is, or ``None``: a GLB header, a zip holding a 3MF model part, a
    PLY header, a binary STL whose length is exactly 84 + 50 × its count, an ASCII STL, or text
    with OBJ vertex or face lines."""
    if glb.is_glb(data):
        return "glb"
    if data.startswith(b"PK\x03\x04"):
        return "3mf" if _has_model_part(data) else None
    if ply.is_ply(data):
        return "ply"
    if stl.binary_triangle_count(data) is not None:
        return "stl"
    if stl.is_ascii_stl(data):
        return "stl"
    head = data[:65536]
    if b"\0" not in head and _OBJ_LINE.search(head):
        return "obj"
    return None


def read_model(data: bytes, *, max_bytes: int, max_faces: int) -> tuple[trimesh.Trimesh, dict[str, object]]:
    """Parse an untrusted mesh file into one mesh (in the file's units) and facts about it.

    The facts hold ``format``, ``units`` (as declared, when the format can say) and
    ``scale_to_mm`` (1 when unknown). Raises :class:`InputRejected` with a reason code:
    ``unsupported_type`` for a file that is no mesh format we read (an HTTP 415), ``too_large``
    past the caps, ``corrupt`` for a mesh file that is damaged.
    """
    if not data:
        raise InputRejected("The file is empty.", code="empty")
    if len(data) > max_bytes:
        raise InputRejected(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB.", code="too_large"
        )
    fmt = sniff_model_format(data)
    if fmt is None:
        truncated = _truncated_binary_stl(data)
        if truncated is not None:
            raise InputRejected(truncated, code="corrupt")
        raise InputRejected(
            "This file is not a mesh we can read. Use STL, OBJ, PLY, GLB or 3MF.", code="unsupported_type"
        )
    try:
        mesh = _READERS[fmt](data, max_faces)
    except InputRejected:
        raise
    except (MemoryError, RecursionError):
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


def face_bound(data: bytes, max_faces: int) -> int:
    """A cheap upper bound on the triangles reading ``data`` holds at its peak, at most
    ``max_faces + 1`` (a reader stops there): what an admission gate prices before reading.

    From the header where the format has counts (binary STL, binary PLY, GLB), from the model
    parts' expanded size for 3MF (a triangle takes at least 30 bytes of XML), from the file's
    size for text formats (an ASCII STL triangle takes at least 33 bytes, an OBJ or ASCII PLY
    polygon corner 2), and 0 for a file that is no mesh or a damaged one (refused before any
    reading).
    """
    fmt = sniff_model_format(data)
    if fmt == "stl":
        faces = stl.binary_triangle_count(data)
        bound = faces if faces is not None else len(data) // 33
    elif fmt == "3mf":
        if (threemf.archive_entries(data) or 0) > threemf.MAX_ENTRIES:
            return 0  # refused by the reader before its directory is read
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            bound = (
                sum(i.file_size for i in archive.infolist() if i.filename.lower().endswith(".model")) // 30
            )
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            bound = 0
    elif fmt == "glb":
        try:
            bound = glb.placed_size(data)[0]
        except InputRejected:
            bound = 0
    elif fmt == "ply":
        try:
            bound = ply.triangle_bound(data, max_faces)
        except InputRejected:
            bound = 0
    else:
        bound = len(data) // 2 if fmt == "obj" else 0
    return min(bound, max_faces + 1)


def _has_model_part(data: bytes) -> bool:
    """A zip whose directory lists a ``.model`` part (a 3MF; a .docx or a .zip is something else).
    A damaged zip, or one listing too many parts, counts: the 3MF reader says what is wrong."""
    if (threemf.archive_entries(data) or 0) > threemf.MAX_ENTRIES:
        return True
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return True
    return any(name.lower().endswith(".model") for name in names)


def _truncated_binary_stl(data: bytes) -> str | None:
    """Why a file that is a binary STL cut short is damaged, or ``None`` for anything else: the
    first record after the header must be a real triangle (finite numbers, a unit or zero normal),
    which the bytes of a document or picture at that place essentially never are."""
    if len(data) < 134:
        return None
    record = np.frombuffer(data, dtype="<f4", count=12, offset=84)
    if not np.all(np.isfinite(record)) or np.abs(record).max() > 1e7:
        return None
    normal = float(np.linalg.norm(record[:3]))
    if not (normal < 1e-6 or abs(normal - 1.0) < 1e-3):
        return None
    claimed = struct.unpack_from("<I", data, 80)[0]
    held = (len(data) - 84) // 50
    return f"The STL file claims {claimed:,} triangles but holds {held:,}: it is truncated or damaged."


_READERS: dict[str, Callable[[bytes, int], trimesh.Trimesh]] = {
    "stl": stl.read_stl,
    "obj": obj.read_obj,
    "ply": ply.read_ply,
    "glb": glb.read_glb,  # GLB is in metres like ours: read_glb converts it to millimetres
    "3mf": lambda data, max_faces: threemf.read_3mf(data, max_faces=max_faces),
}
