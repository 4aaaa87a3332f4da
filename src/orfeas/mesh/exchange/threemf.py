"""3MF (the 3D Manufacturing Format) in millimetres, written byte-for-byte reproducibly, and read
as a stream.

trimesh's writer stamps a fresh UUID into every file; ours keeps zip dates and ids fixed so the
same model always gives the same bytes.

A colour print (:class:`~orfeas.mesh.parts.Part`) is written the way slicers load a multi-material
object: one object whose mesh holds every part's vertices and triangles, part after part, with

* the parts' colours as the 3MF core's base materials (each triangle names its part's), for
  viewers;
* ``Metadata/Slic3r_PE_model.config``: PrusaSlicer's list of the object's volumes, each a range of
  triangles with its name and extruder. PrusaSlicer loads separate 3MF objects (or components) as
  separate objects and drops each onto the bed; volumes of one object keep their places. Bambu
  Studio and OrcaSlicer read a file whose generator names PrusaSlicer with PrusaSlicer's importer,
  so the generator metadata says the volumes are laid out as PrusaSlicer writes them;
* ``Metadata/model_settings.config``: the same parts and extruders in Bambu Studio's and
  OrcaSlicer's own vocabulary (an object, its parts as triangle ranges, each with its extruder).

Slicing it with one extruder per colour changes tools between the parts (``T0``, ``T1``, …).

trimesh's reader expands every zip member into memory and builds an lxml tree of every vertex and
triangle (measured: 2.7 GB for a 234 KB file of 3 M triangles). :func:`read_3mf` instead feeds
the model parts from the zip stream to expat, keeps only the numbers (8 bytes each), counts
triangles as they arrive and stops at the face cap; the model parts' expanded size is capped
from the face cap before a byte is inflated.
"""

from __future__ import annotations

import io
import struct
import zipfile
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

import numpy as np
import trimesh

from orfeas.errors import InputRejected
from orfeas.version import VERSION

if TYPE_CHECKING:
    from orfeas.mesh.parts import Part

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Target="/3D/3dmodel.model" Id="rel0" '
    'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>'
    "</Relationships>"
)
_FIXED_DATE = (2020, 1, 1, 0, 0, 0)
_CORE = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
#: The generator of a colour print, naming the layout of its volumes (see the module doc).
PARTS_APPLICATION = f"ORFEAS-{VERSION} (volumes laid out as PrusaSlicer writes them)"
#: The object of a colour print (its id in the model and in both slicers' configs).
PARTS_OBJECT_ID = 2
_MATERIALS_ID = 1


def export_3mf(mesh: trimesh.Trimesh, parts: list[Part] | None = None) -> bytes:
    """``mesh`` as a 3MF file; a colour print's ``parts`` as the volumes of one object, with their
    colours and each slicer's extruder assignment (see the module doc)."""
    if parts:
        return _archive(
            [
                ("3D/3dmodel.model", _parts_model(parts)),
                ("Metadata/Slic3r_PE_model.config", prusaslicer_config(parts)),
                ("Metadata/model_settings.config", bambu_config(parts)),
            ]
        )
    vertices = _vertices_xml(np.asarray(mesh.vertices))
    triangles = "".join(f'<triangle v1="{a}" v2="{b}" v3="{c}"/>' for a, b, c in np.asarray(mesh.faces))
    model = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<model unit="millimeter" xml:lang="en-US" xmlns="{_CORE}">'
        '<metadata name="Application">ORFEAS</metadata>'
        '<resources><object id="1" type="model"><mesh>'
        f"<vertices>{vertices}</vertices><triangles>{triangles}</triangles>"
        '</mesh></object></resources><build><item objectid="1"/></build></model>'
    )
    return _archive([("3D/3dmodel.model", model)])


def _archive(members: list[tuple[str, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS), *members):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"), compresslevel=6)
    return buffer.getvalue()


def _vertices_xml(vertices: np.ndarray) -> str:
    return "".join(f'<vertex x="{x:.5f}" y="{y:.5f}" z="{z:.5f}"/>' for x, y, z in vertices)


def triangle_ranges(parts: list[Part]) -> list[tuple[int, int]]:
    """Each part's first and last triangle in the object's mesh (the parts follow each other)."""
    ends = np.cumsum([len(part.mesh.faces) for part in parts])
    return [(int(end - len(part.mesh.faces)), int(end - 1)) for part, end in zip(parts, ends, strict=True)]


def _parts_model(parts: list[Part]) -> str:
    """The model part: base materials (one per part's colour) and one object holding every part's
    vertices and triangles, each triangle naming its part's material."""
    bases = "".join(
        f'<base name={quoteattr(part.name)} displaycolor="{part.hex.upper()}FF"/>' for part in parts
    )
    vertices, triangles, offset = [], [], 0
    for index, part in enumerate(parts):
        vertices.append(_vertices_xml(np.asarray(part.mesh.vertices)))
        material = f' pid="{_MATERIALS_ID}" p1="{index}"'
        triangles.append(
            "".join(
                f'<triangle v1="{a}" v2="{b}" v3="{c}"{material}/>'
                for a, b, c in np.asarray(part.mesh.faces) + offset
            )
        )
        offset += len(part.mesh.vertices)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<model unit="millimeter" xml:lang="en-US" xmlns="{_CORE}">'
        f'<metadata name="Application">{PARTS_APPLICATION}</metadata>'
        f'<resources><basematerials id="{_MATERIALS_ID}">{bases}</basematerials>'
        f'<object id="{PARTS_OBJECT_ID}" type="model" name="ORFEAS model" pid="{_MATERIALS_ID}" pindex="0">'
        f"<mesh><vertices>{''.join(vertices)}</vertices><triangles>{''.join(triangles)}</triangles></mesh>"
        f'</object></resources><build><item objectid="{PARTS_OBJECT_ID}"/></build></model>'
    )


def _part_label(part: Part) -> str:
    return quoteattr(f"{part.name} {part.hex}")


def prusaslicer_config(parts: list[Part]) -> str:
    """``Metadata/Slic3r_PE_model.config``: the object's volumes (triangle ranges), each a model
    part with its name and extruder (1 for the first part, 2 for the next…)."""
    volumes = "".join(
        f'  <volume firstid="{first}" lastid="{last}">\n'
        f'   <metadata type="volume" key="name" value={_part_label(part)}/>\n'
        '   <metadata type="volume" key="volume_type" value="ModelPart"/>\n'
        f'   <metadata type="volume" key="extruder" value="{extruder}"/>\n'
        '   <mesh edges_fixed="0" degenerate_facets="0" facets_removed="0" facets_reversed="0" '
        'backwards_edges="0"/>\n'
        "  </volume>\n"
        for extruder, (part, (first, last)) in enumerate(zip(parts, triangle_ranges(parts), strict=True), 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<config>\n'
        f' <object id="{PARTS_OBJECT_ID}" instances_count="1">\n'
        '  <metadata type="object" key="name" value="ORFEAS model"/>\n'
        f"{volumes} </object>\n</config>\n"
    )


def bambu_config(parts: list[Part]) -> str:
    """``Metadata/model_settings.config``: the object and its parts (triangle ranges, as Bambu
    Studio's and OrcaSlicer's reader takes them), each a normal part with its extruder."""
    items = "".join(
        f'    <part id="{PARTS_OBJECT_ID}" subtype="normal_part" firstid="{first}" lastid="{last}">\n'
        f'      <metadata key="name" value={_part_label(part)}/>\n'
        f'      <metadata key="extruder" value="{extruder}"/>\n'
        "    </part>\n"
        for extruder, (part, (first, last)) in enumerate(zip(parts, triangle_ranges(parts), strict=True), 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<config>\n'
        f'  <object id="{PARTS_OBJECT_ID}">\n'
        '    <metadata key="name" value="ORFEAS model"/>\n'
        '    <metadata key="extruder" value="1"/>\n'
        f"{items}  </object>\n</config>\n"
    )


def load_3mf(data: bytes) -> trimesh.Trimesh:
    """A 3MF file's build as one mesh in its declared units (``mesh.units``)."""
    return read_3mf(data)


#: XML bytes a model part may take per triangle of the face cap. A verbose exporter writes about
#: 150 (a triangle with its share of vertices, indented); beyond this an archive is refused from its
#: directory, before anything is inflated (a 1 MB file that expands to 1 GiB stops here).
XML_BYTES_PER_FACE = 400
#: ... plus this much for metadata, whatever the mesh's size.
XML_BYTES_FIXED = 1 << 20
#: Entries an archive may list (each costs a ZipInfo when the directory is read).
MAX_ENTRIES = 10_000
#: How deep components may nest (the 3MF graph is a tree; a cycle is refused, depth bounds the rest).
MAX_NESTING = 16
#: Triangles (and visits) a build may place when no face cap is given.
MAX_PLACEMENTS = 50_000_000
_CHUNK = 1 << 20
_ROOT_TYPE = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"


def model_xml_limit(max_faces: int) -> int:
    """The most uncompressed model XML accepted for a face cap of ``max_faces``."""
    return XML_BYTES_FIXED + XML_BYTES_PER_FACE * max_faces


def read_3mf(data: bytes, *, max_faces: int | None = None) -> trimesh.Trimesh:
    """The build of a 3MF file as one mesh in its declared units (``mesh.units``), every build item
    and component placed by its transform.

    With ``max_faces``, refuses (:class:`InputRejected`, ``too_large``) an archive whose model
    parts expand beyond :func:`model_xml_limit`, and stops reading as soon as the parsed or the
    placed triangles pass the cap. Broken files raise ``corrupt``.
    """
    archive = _open_archive(data)
    parts = {info.filename.lstrip("/").lower(): info for info in archive.infolist() if not info.is_dir()}
    models = [info for name, info in parts.items() if name.endswith(".model")]
    if max_faces is not None:
        expanded = sum(info.file_size for info in models)
        if expanded > model_xml_limit(max_faces):
            raise InputRejected(
                f"The 3MF file's model expands to {expanded / 1e6:,.0f} MB; at most "
                f"{model_xml_limit(max_faces) / 1e6:,.0f} MB is accepted for {max_faces:,} triangles.",
                code="too_large",
            )
    root = _root_part(archive, parts)
    reader = _Reader(archive, parts, max_faces)
    unit = reader.parse(root, is_root=True)
    mesh = reader.build()
    mesh.units = unit
    return mesh


def archive_entries(data: bytes) -> int | None:
    """The entry count a zip's end-of-directory record declares (read before ``ZipFile`` builds a
    ZipInfo per entry), or ``None`` when there is no such record."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or len(data) < end + 22:
        return None
    return int(struct.unpack_from("<H", data, end + 10)[0])


def _open_archive(data: bytes) -> zipfile.ZipFile:
    entries = archive_entries(data)
    if entries is None:
        raise InputRejected("The 3MF file is damaged (not a valid zip).", code="corrupt")
    if entries > MAX_ENTRIES:  # 0xFFFF (zip64) included: no 3MF holds that many parts
        raise InputRejected(f"The 3MF file lists more than {MAX_ENTRIES:,} parts.", code="too_large")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InputRejected("The 3MF file is damaged (not a valid zip).", code="corrupt") from exc


def _root_part(archive: zipfile.ZipFile, parts: dict[str, zipfile.ZipInfo]) -> str:
    """The start part named by ``_rels/.rels``, else the conventional ``3D/3dmodel.model``."""
    rels = parts.get("_rels/.rels")
    if rels is not None and rels.file_size <= XML_BYTES_FIXED:
        targets: list[str] = []

        def start(name: str, attrs: dict[str, str]) -> None:
            if name.rpartition(" ")[2] == "Relationship" and attrs.get("Type", "").strip() == _ROOT_TYPE:
                targets.append(attrs.get("Target", "").lstrip("/").lower())

        parser = _parser()
        parser.StartElementHandler = start
        try:
            parser.Parse(archive.read(rels), True)
        except (expat.ExpatError, zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise InputRejected("The 3MF file's relationships are damaged.", code="corrupt") from exc
        if targets and targets[0] in parts:
            return targets[0]
    if "3d/3dmodel.model" in parts:
        return "3d/3dmodel.model"
    raise InputRejected("The 3MF file has no 3D model part.", code="corrupt")


def _parser() -> expat.XMLParserType:
    """An expat parser that refuses document types and entities (no 3MF has them; they are how
    XML bombs expand)."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise InputRejected("The 3MF file declares XML entities, which 3MF does not use.", code="corrupt")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


def _transform(text: str | None) -> np.ndarray:
    """A 3MF ``transform`` (``m00 m01 m02 m10 … m32``, row vectors) as a 4 × 4 column-vector matrix."""
    matrix = np.eye(4)
    if text:
        values = np.array(text.split(), dtype=np.float64)
        if values.size != 12 or not np.all(np.isfinite(values)):
            raise ValueError("a transform needs 12 finite numbers")
        matrix[:3, :4] = values.reshape(4, 3).T
    return matrix


@dataclass
class _Object:
    vertices: array = field(default_factory=lambda: array("d"))
    triangles: array = field(default_factory=lambda: array("q"))
    #: (part, object id, transform) of each component
    components: list[tuple[str, str, np.ndarray]] = field(default_factory=list)


class _Reader:
    """Objects of every model part reached from the root, keyed by (part, id), and the build."""

    def __init__(self, archive: zipfile.ZipFile, parts: dict[str, zipfile.ZipInfo], max_faces: int | None):
        self.archive, self.parts, self.max_faces = archive, parts, max_faces
        self.objects: dict[tuple[str, str], _Object] = {}
        self.items: list[tuple[str, str, np.ndarray]] = []
        self.parsed: set[str] = set()
        self.triangles = 0

    def parse(self, part: str, *, is_root: bool = False) -> str:
        """Stream one model part; returns its ``unit``. Parts named by components follow."""
        self.parsed.add(part)
        unit = ["millimeter"]
        current: list[_Object | None] = [None]
        pending: list[str] = []
        cap = self.max_faces
        local_names: dict[str, str] = {}  # expat interns names: one split per distinct tag

        def start(name: str, attrs: dict[str, str]) -> None:
            tag = local_names.get(name) or local_names.setdefault(name, name.rpartition(" ")[2])
            obj = current[0]
            if tag == "vertex" and obj is not None:
                obj.vertices.extend((float(attrs["x"]), float(attrs["y"]), float(attrs["z"])))
            elif tag == "triangle" and obj is not None:
                obj.triangles.extend((int(attrs["v1"]), int(attrs["v2"]), int(attrs["v3"])))
                self.triangles += 1
                if cap is not None and self.triangles > cap:
                    raise InputRejected(
                        f"The 3MF file holds more than {cap:,} triangles (the limit); reading stopped there.",
                        code="too_large",
                    )
            elif tag == "object":
                current[0] = self.objects.setdefault((part, attrs["id"]), _Object())
            elif tag in ("component", "item"):
                target = _path_attr(attrs) or part
                entry = (target, attrs["objectid"], _transform(attrs.get("transform")))
                if tag == "item":
                    if is_root:
                        self.items.append(entry)
                elif obj is not None:
                    obj.components.append(entry)
                if target != part and target not in self.parsed and target not in pending:
                    pending.append(target)
            elif tag == "model":
                unit[0] = attrs.get("unit", "millimeter")

        def end(name: str) -> None:
            if name.rpartition(" ")[2] == "object":
                current[0] = None

        parser = _parser()
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        try:
            with self.archive.open(self.parts[part]) as stream:
                while chunk := stream.read(_CHUNK):
                    parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except InputRejected:
            raise
        except (expat.ExpatError, KeyError, ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputRejected(
                f"The 3MF file's model is damaged ({type(exc).__name__}: {exc}).", code="corrupt"
            ) from exc
        for target in pending:
            if target not in self.parts:
                raise InputRejected(f"The 3MF file refers to a missing part '{target}'.", code="corrupt")
            if target not in self.parsed:
                self.parse(target)
        return unit[0]

    def build(self) -> trimesh.Trimesh:
        """Every build item's meshes, placed; refused before any copy when they pass the cap."""
        items = self.items or [(p, i, np.eye(4)) for (p, i), o in self.objects.items() if o.triangles]
        placed: list[tuple[_Object, np.ndarray]] = []
        budget = [self.max_faces if self.max_faces is not None else MAX_PLACEMENTS]
        for part, object_id, transform in items:
            self._place(part, object_id, transform, placed, budget, depth=0)
        vertices, faces, offset = [], [], 0
        for obj, transform in placed:
            v = np.frombuffer(obj.vertices, dtype=np.float64).reshape(-1, 3)
            f = np.frombuffer(obj.triangles, dtype=np.int64).reshape(-1, 3)
            if f.min() < 0 or f.max() >= len(v):
                raise InputRejected("The 3MF file's triangles refer to missing vertices.", code="corrupt")
            if not np.array_equal(transform, np.eye(4)):
                v = v @ transform[:3, :3].T + transform[:3, 3]
            vertices.append(v)
            faces.append(f + offset)
            offset += len(v)
        if not faces:
            return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)
        return trimesh.Trimesh(np.vstack(vertices), np.vstack(faces), process=False)

    def _place(
        self,
        part: str,
        object_id: str,
        transform: np.ndarray,
        out: list[tuple[_Object, np.ndarray]],
        budget: list[int],
        depth: int,
    ) -> None:
        """Append (object, transform) for ``object_id`` and its components. ``budget`` counts down
        the triangles still allowed, and one per visit, so a fan-out of empty components ends too."""
        if depth > MAX_NESTING:
            raise InputRejected(
                f"The 3MF file's components nest deeper than {MAX_NESTING} (or refer to themselves).",
                code="corrupt",
            )
        obj = self.objects.get((part, object_id))
        if obj is None:
            raise InputRejected(f"The 3MF file refers to a missing object {object_id}.", code="corrupt")
        budget[0] -= max(1, len(obj.triangles) // 3)
        if budget[0] < 0:
            limit = self.max_faces if self.max_faces is not None else MAX_PLACEMENTS
            raise InputRejected(
                f"The 3MF file's build places more than {limit:,} triangles (the limit).", code="too_large"
            )
        if obj.triangles:
            out.append((obj, transform))
        for child_part, child_id, child_transform in obj.components:
            self._place(child_part, child_id, transform @ child_transform, out, budget, depth + 1)


def _path_attr(attrs: dict[str, str]) -> str | None:
    """The production extension's ``p:path`` (another model part), lower-cased without the slash."""
    for key, value in attrs.items():
        if key.rpartition(" ")[2] == "path":
            return value.lstrip("/").lower()
    return None
