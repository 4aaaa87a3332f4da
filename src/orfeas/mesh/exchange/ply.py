"""Binary PLY with per-vertex colours.

A PLY from elsewhere is checked from its header before anything is read (:func:`read_ply`): the
element counts against the caps, and the triangles its faces will make (a face may list up to 255
corners, so a face count alone does not bound them). The usual layout — vertices with scalar
properties, faces with one list of corners — is then read with numpy views of the body (binary)
or one bounded parse of its numbers (ASCII); trimesh's reader, used for anything else, holds a
NumPy array per line of an ASCII file (860 MB for a 52 MB file).
"""

from __future__ import annotations

import io
import itertools
import struct
from array import array

import numpy as np
import trimesh

from orfeas.errors import InputRejected

_SIZES = {
    "char": "b", "int8": "b", "uchar": "B", "uint8": "B",
    "short": "h", "int16": "h", "ushort": "H", "uint16": "H",
    "int": "i", "int32": "i", "uint": "I", "uint32": "I",
    "float": "f", "float32": "f", "double": "d", "float64": "d",
}  # fmt: skip
#: The header must end within this many bytes.
_MAX_HEADER = 1 << 16
#: An ASCII body is parsed this many bytes at a time.
_ASCII_CHUNK = 1 << 20


def export_ply(mesh: trimesh.Trimesh) -> bytes:
    return trimesh.exchange.ply.export_ply(mesh, encoding="binary", include_attributes=False)


def load_ply(data: bytes) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(data), file_type="ply", force="mesh", process=False)


def is_ply(data: bytes) -> bool:
    return data.startswith((b"ply\n", b"ply\r\n")) and b"format " in data[:200]


def read_ply(data: bytes, max_faces: int | None = None) -> trimesh.Trimesh:
    """A PLY file whose vertex and triangle counts are within ``max_faces`` (three vertices per
    triangle at most), else :class:`InputRejected` before any element is read."""
    layout = _Layout.parse(data)
    if max_faces is not None:
        layout.check(data, max_faces)
    mesh = layout.read(data) if layout.simple() else None
    if mesh is None:  # another layout, or ASCII faces of mixed corner counts: trimesh's reader
        mesh = trimesh.load(
            io.BytesIO(data), file_type="ply", force="mesh", process=False, skip_materials=True
        )
    return mesh


def triangle_bound(data: bytes, cap: int) -> int:
    """An upper bound on a PLY's triangles without reading its body: exact for a binary file (its
    header and first face decide), the file's size over 2 for ASCII (a corner takes 2 bytes)."""
    layout = _Layout.parse(data)
    return len(data) // 2 if layout.encoding == "ascii" else layout.triangles(data, cap)


class _Layout:
    """The header: encoding, where the body starts, and each element's count and properties."""

    def __init__(self, encoding: str, body: int, elements: list[tuple[str, int, list[tuple[str, ...]]]]):
        self.encoding, self.body, self.elements = encoding, body, elements

    @classmethod
    def parse(cls, data: bytes) -> _Layout:
        end = data.find(b"end_header", 0, _MAX_HEADER)
        if end < 0:
            raise InputRejected("The PLY file's header does not end.", code="corrupt")
        body = data.find(b"\n", end) + 1 or len(data)
        encoding = ""
        elements: list[tuple[str, int, list[tuple[str, ...]]]] = []
        for raw in data[:end].decode("ascii", "replace").splitlines()[1:]:
            words = raw.split()
            try:
                if words[:1] == ["format"]:
                    encoding = words[1]
                elif words[:1] == ["element"]:
                    elements.append((words[1], int(words[2]), []))
                elif words[:1] == ["property"] and elements:
                    elements[-1][2].append(tuple(words[1:]))
            except (IndexError, ValueError):
                raise InputRejected(
                    f"The PLY file's header line '{raw[:60]}' is damaged.", code="corrupt"
                ) from None
        if encoding not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise InputRejected(f"The PLY file's format '{encoding}' is not one PLY defines.", code="corrupt")
        if any(count < 0 for _, count, _ in elements):
            raise InputRejected("The PLY file declares a negative count.", code="corrupt")
        return cls(encoding, body, elements)

    def check(self, data: bytes, max_faces: int) -> None:
        """Refuse counts past the caps, from the header and the faces' corner counts."""
        vertices, faces = self.count("vertex"), self.count("face")
        if vertices > 3 * max_faces:
            raise InputRejected(
                f"The PLY file declares {vertices:,} vertices; at most {3 * max_faces:,} are accepted.",
                code="too_large",
            )
        if faces > max_faces:
            raise InputRejected(
                f"The PLY file declares {faces:,} faces; the limit is {max_faces:,} triangles.",
                code="too_large",
            )
        triangles = self.triangles(data, max_faces)
        if triangles > max_faces:
            raise InputRejected(
                f"The PLY file's faces make {triangles:,} triangles; the limit is {max_faces:,}.",
                code="too_large",
            )

    def simple(self) -> bool:
        """Vertices with scalar x, y, z (and more scalars), then faces with one list of corners."""
        if [name for name, _, _ in self.elements] != ["vertex", "face"]:
            return False
        (_, _, vertex), (_, _, face) = self.elements
        scalars = [prop for prop in vertex + face if prop[0] != "list"]
        lists = [prop for prop in face if prop[0] == "list"]
        return (
            {"x", "y", "z"} <= {prop[-1] for prop in vertex}
            and all(prop[0] != "list" for prop in vertex)
            and all(len(prop) == 2 and prop[0] in _SIZES for prop in scalars)
            and len(lists) == 1
            and len(lists[0]) == 4
            and lists[0][1] in _SIZES
            and lists[0][2] in _SIZES
        )

    def read(self, data: bytes) -> trimesh.Trimesh:
        """The mesh of a :meth:`simple` layout."""
        (_, n_vertices, vertex), (_, n_faces, face) = self.elements
        list_at = next(i for i, prop in enumerate(face) if prop[0] == "list")
        if self.encoding == "ascii":
            head = n_vertices * len(vertex)
            values = self._ascii_values(data, most=head + n_faces * (len(face) + 255))
            if len(values) < head:
                raise InputRejected("The PLY file's vertices are cut short.", code="corrupt")
            table = values[:head].reshape(n_vertices, len(vertex))
            columns = {prop[-1]: table[:, i] for i, prop in enumerate(vertex)}
            faces = values[head:]
            corners = int(faces[list_at]) if n_faces and len(faces) > list_at else 3
            if len(faces) == n_faces * (len(face) + corners):
                rows = faces.reshape(n_faces, -1)
                counts, indices = rows[:, list_at], rows[:, list_at + 1 : list_at + 1 + corners]
            else:  # faces of mixed corner counts: walk them (their triangles were counted already)
                triangles = _fan_mixed(faces, n_faces, list_at, len(face) - 1)
                return _mesh(columns, triangles, n_vertices)
        else:
            order = "<" if self.encoding == "binary_little_endian" else ">"
            vertex_type = np.dtype([(prop[1], order + _SIZES[prop[0]]) for prop in vertex])
            if self.body + n_vertices * vertex_type.itemsize > len(data):
                raise InputRejected("The PLY file's vertices are cut short.", code="corrupt")
            table = np.frombuffer(data, dtype=vertex_type, count=n_vertices, offset=self.body)
            columns = {name: table[name] for name in vertex_type.names or ()}
            offset = self.body + n_vertices * vertex_type.itemsize
            corners = self._first_corners(data, offset, order, face) if n_faces else 3
            fields: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
            for prop in face:
                if prop[0] == "list":
                    fields += [
                        ("count", order + _SIZES[prop[1]]),
                        ("corners", order + _SIZES[prop[2]], (corners,)),
                    ]
                else:
                    fields.append((prop[1], order + _SIZES[prop[0]]))
            face_type = np.dtype(fields)
            if offset + n_faces * face_type.itemsize != len(data):
                raise InputRejected(
                    "The PLY file's length does not match its header (faces of differing corner counts?).",
                    code="corrupt",
                )
            records = np.frombuffer(data, dtype=face_type, count=n_faces, offset=offset)
            counts, indices = records["count"], records["corners"]
        if n_faces and (corners < 3 or np.any(counts != corners)):
            raise InputRejected("The PLY file's faces have differing or too few corners.", code="corrupt")
        indices = np.asarray(indices, dtype=np.int64).reshape(n_faces, corners)
        fan = [indices[:, [0, i, i + 1]] for i in range(1, corners - 1)]
        triangles = np.concatenate(fan) if fan and n_faces else np.zeros((0, 3), dtype=np.int64)
        return _mesh(columns, triangles, n_vertices)

    def _first_corners(self, data: bytes, offset: int, order: str, face: list[tuple[str, ...]]) -> int:
        for prop in face:
            if prop[0] == "list":
                fmt = order + _SIZES[prop[1]]
                if offset + struct.calcsize(fmt) > len(data):
                    raise InputRejected("The PLY file's faces are cut short.", code="corrupt")
                return int(struct.unpack_from(fmt, data, offset)[0])
            offset += _scalar_size(prop)
        return 0

    def _ascii_values(self, data: bytes, most: int) -> np.ndarray:
        """Every number of an ASCII body, parsed a chunk of lines at a time (so the text's tokens
        never exceed a chunk); more than ``most`` numbers is a damaged file."""
        chunks: list[np.ndarray] = []
        held, start = 0, self.body
        while start < len(data):
            end = data.find(b"\n", min(len(data), start + _ASCII_CHUNK))
            end = len(data) if end < 0 else end + 1
            try:
                chunks.append(np.array(data[start:end].split(), dtype=np.float64))
            except ValueError:
                raise InputRejected(
                    "The PLY file's body holds something that is not a number.", code="corrupt"
                ) from None
            start = end
            held += len(chunks[-1])
            if held > most:
                raise InputRejected(
                    "The PLY file's body holds more numbers than its header declares.", code="corrupt"
                )
        return np.concatenate(chunks) if chunks else np.zeros(0)

    def count(self, name: str) -> int:
        return sum(count for element, count, _ in self.elements if element == name)

    def triangles(self, data: bytes, cap: int) -> int:
        """The triangles the faces make (a k-gon makes k − 2), counting no further than ``cap``."""
        faces = self.count("face")
        if not faces:
            return 0
        if self.encoding == "ascii":
            return self._ascii_triangles(data, cap)
        # trimesh reads a binary PLY as if every face had the first face's corner count (and checks
        # that the file's length agrees), so the first face's count decides.
        order = "<" if self.encoding == "binary_little_endian" else ">"
        offset = self.body
        for name, count, properties in self.elements:
            if name == "face":
                for prop in properties:
                    if prop[0] == "list":
                        fmt = order + _SIZES.get(prop[1], "")
                        if len(fmt) < 2 or offset + struct.calcsize(fmt) > len(data):
                            raise InputRejected("The PLY file's faces are damaged.", code="corrupt")
                        corners = struct.unpack_from(fmt, data, offset)[0]
                        return faces * max(1, int(corners) - 2)
                    offset += _scalar_size(prop)
                return faces
            if any(prop[0] == "list" for prop in properties):
                return faces * 253  # a list before the faces: assume the worst (255 corners)
            offset += count * sum(_scalar_size(prop) for prop in properties)
        return faces

    def _ascii_triangles(self, data: bytes, cap: int) -> int:
        skip = 0
        for name, count, _ in self.elements:
            if name == "face":
                break
            skip += count
        triangles, remaining = 0, self.count("face")
        lines = io.BytesIO(data)
        lines.seek(self.body)
        for _ in range(skip):
            lines.readline()
        for line in lines:
            if remaining == 0 or triangles > cap:
                break
            remaining -= 1
            head = line.split(None, 1)[:1]
            try:
                triangles += max(1, int(head[0]) - 2) if head else 0
            except ValueError:
                raise InputRejected("The PLY file's faces are not numbers.", code="corrupt") from None
        return triangles


def _fan_mixed(values: np.ndarray, n_faces: int, list_at: int, other_props: int) -> np.ndarray:
    """Triangles of ASCII faces whose corner counts differ, from the faces' numbers in order."""
    triangles = array("q")
    at = 0
    for _ in range(n_faces):
        if at + list_at >= len(values):
            raise InputRejected("The PLY file's faces are cut short.", code="corrupt")
        corners = int(values[at + list_at])
        ring = values[at + list_at + 1 : at + list_at + 1 + corners].astype(np.int64).tolist()
        if corners < 3 or len(ring) != corners:
            raise InputRejected("The PLY file has a face with fewer than 3 corners.", code="corrupt")
        for b, c in itertools.pairwise(ring[1:]):
            triangles.extend((ring[0], b, c))
        at += corners + 1 + other_props
    if at != len(values):
        raise InputRejected(
            "The PLY file's body does not hold the faces its header declares.", code="corrupt"
        )
    return np.frombuffer(triangles, dtype=np.int64).reshape(-1, 3)


def _mesh(columns: dict[str, np.ndarray], triangles: np.ndarray, n_vertices: int) -> trimesh.Trimesh:
    positions = np.column_stack([columns["x"], columns["y"], columns["z"]]).astype(np.float64)
    mesh = trimesh.Trimesh(positions, triangles, process=False)
    if {"red", "green", "blue"} <= columns.keys():
        rgba = np.full((n_vertices, 4), 255, dtype=np.uint8)
        for i, name in enumerate(("red", "green", "blue", "alpha")):
            if name in columns:
                rgba[:, i] = np.clip(columns[name], 0, 255)
        mesh.visual.vertex_colors = rgba
    return mesh


def _scalar_size(prop: tuple[str, ...]) -> int:
    code = _SIZES.get(prop[0]) if prop else None
    if code is None:
        raise InputRejected(
            f"The PLY file's property type '{' '.join(prop)}' is not one PLY defines.", code="corrupt"
        )
    return struct.calcsize(code)
