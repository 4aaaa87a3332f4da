"""Binary STL in millimetres (the format every slicer reads); ASCII STL is read in bounded chunks."""

from __future__ import annotations

import io
import struct

import numpy as np
import trimesh

from orfeas.errors import InputRejected

_HEADER = b"ORFEAS binary STL, units: millimetres".ljust(80, b" ")
_RECORD = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
#: ASCII STL is parsed this many bytes at a time, so text and token lists never exceed a chunk.
_CHUNK = 1 << 20
_MAX_LINE = 1 << 16


def export_stl(mesh: trimesh.Trimesh) -> bytes:
    """Binary STL bytes: 80-byte header, triangle count, one 50-byte record per triangle."""
    records = np.zeros(len(mesh.faces), dtype=_RECORD)
    records["normal"] = mesh.face_normals
    records["vertices"] = mesh.triangles
    return _HEADER + np.uint32(len(records)).tobytes() + records.tobytes()


def load_stl(data: bytes) -> trimesh.Trimesh:
    """Read STL bytes (binary or ASCII) into one mesh with coincident vertices merged."""
    return trimesh.load(io.BytesIO(data), file_type="stl", force="mesh", process=False)


def binary_triangle_count(data: bytes) -> int | None:
    """The triangle count of a binary STL whose length fits it exactly (84 + 50·n bytes), else ``None``."""
    if len(data) < 84:
        return None
    count = struct.unpack_from("<I", data, 80)[0]
    return count if len(data) == 84 + 50 * count else None


def is_ascii_stl(data: bytes) -> bool:
    """``solid`` first, then a facet (or the ``endsolid`` of an empty solid), all of it text."""
    head = data[:65536]
    return (
        head.lstrip()[:5].lower() == b"solid"
        and b"\0" not in head
        and (b"facet" in head.lower() or b"endsolid" in head.lower())
    )


def read_stl(data: bytes, max_faces: int | None = None) -> trimesh.Trimesh:
    """An STL (binary if its length fits its count, else ASCII), refused past ``max_faces``
    (:class:`InputRejected`) before the triangles are read."""
    count = binary_triangle_count(data)
    if count is not None:
        _check_faces(count, max_faces)
        return read_binary_stl(data)
    return read_ascii_stl(data, max_faces)


def read_binary_stl(data: bytes) -> trimesh.Trimesh:
    """A binary STL whose length fits its count: the corners straight from a view of the records
    (trimesh's reader makes several copies: 435 bytes a triangle against 96 here)."""
    records = np.frombuffer(data, dtype=_RECORD, offset=84)
    vertices = records["vertices"].reshape(-1, 3).astype(np.float64)
    return trimesh.Trimesh(vertices, np.arange(len(vertices)).reshape(-1, 3), process=False)


def read_ascii_stl(data: bytes, max_faces: int | None = None) -> trimesh.Trimesh:
    """ASCII STL, a chunk of lines at a time: only the vertex numbers are kept, and reading stops
    as soon as they make more than ``max_faces`` triangles."""
    blocks: list[np.ndarray] = []
    held = 0
    start = 0
    while start < len(data):
        end = _line_end(data, start + _CHUNK)
        pieces = data[start:end].lower().split(b"vertex")[1:]
        start = end
        if not pieces:
            continue
        numbers = b" ".join(piece.split(b"\n", 1)[0] for piece in pieces).split()
        if len(numbers) != 3 * len(pieces):
            raise InputRejected("The ASCII STL file has a vertex that is not three numbers.", code="corrupt")
        try:
            blocks.append(np.array(numbers, dtype=np.float64).reshape(-1, 3))
        except ValueError:
            raise InputRejected(
                "The ASCII STL file has a vertex that is not a number.", code="corrupt"
            ) from None
        held += len(pieces)
        if max_faces is not None and held > 3 * max_faces:
            raise InputRejected(
                f"The STL file holds more than {max_faces:,} triangles (the limit); reading stopped there.",
                code="too_large",
            )
    if held % 3:
        raise InputRejected("The ASCII STL file has a facet without three vertices.", code="corrupt")
    vertices = np.vstack(blocks) if blocks else np.zeros((0, 3))
    return trimesh.Trimesh(vertices, np.arange(len(vertices)).reshape(-1, 3), process=False)


def _line_end(data: bytes, at: int) -> int:
    """The end of the line holding byte ``at`` (past its newline), or the end of ``data``; a line
    longer than :data:`_MAX_LINE` is refused (it would make one chunk of the whole file)."""
    if at >= len(data):
        return len(data)
    newline = data.find(b"\n", at, at + _MAX_LINE)
    if newline < 0:
        if len(data) - at < _MAX_LINE:
            return len(data)
        raise InputRejected("The ASCII STL file has a line thousands of bytes long.", code="corrupt")
    return newline + 1


def _check_faces(count: int, max_faces: int | None) -> None:
    if max_faces is not None and count > max_faces:
        raise InputRejected(
            f"The mesh has {count:,} triangles; the limit is {max_faces:,}.", code="too_large"
        )
