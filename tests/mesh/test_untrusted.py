"""Reading mesh files from strangers: the format comes from the content, and every reader stops at
the caps while it reads (the hostile files of issue 16), yet reads real files as trimesh does."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from orfeas.errors import InputRejected
from orfeas.mesh import exchange
from orfeas.mesh.exchange import threemf
from orfeas.mesh.exchange.untrusted import read_model, sniff_model_format
from tests.conftest import disc_rgba, png_bytes, require_tool
from tests.mesh.corpus import CAPS, box

_MODEL_NS = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"


def rejected(data: bytes, **caps: int) -> InputRejected:
    with pytest.raises(InputRejected) as caught:
        read_model(data, **{**CAPS, **caps})
    return caught.value


def zipped(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def model_xml(body: str, unit: str = "millimeter", extra_ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><model unit="{unit}" xmlns="{_MODEL_NS}" {extra_ns}>'
        f"{body}</model>"
    ).encode()


def triangle_object(object_id: int, triangles: int = 1, offset: float = 0.0) -> str:
    v = "".join(f'<vertex x="{x + offset}" y="{y}" z="0"/>' for x, y in ((0, 0), (1, 0), (0, 1)))
    t = '<triangle v1="0" v2="1" v3="2"/>' * triangles
    mesh = f"<mesh><vertices>{v}</vertices><triangles>{t}</triangles></mesh>"
    return f'<object id="{object_id}" type="model">{mesh}</object>'


# --- defect 8: the type comes from the content ------------------------------------------------


NOT_MESHES = {
    "pdf": b"%PDF-1.7\n" + bytes(range(256)) * 8,
    "png": png_bytes(disc_rgba(64)),
    "random-bytes": np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
    "docx-like-zip": zipped({"word/document.xml": b"<w:document/>", "[Content_Types].xml": b"<Types/>"}),
    "text": b"Dear customer, please find attached the model you asked for.\n" * 20,
    "html": b"<!doctype html><html><body>" + b"<p>hello</p>" * 100 + b"</body></html>",
}


@pytest.mark.security
@pytest.mark.parametrize("name", list(NOT_MESHES))
def test_a_file_that_is_no_mesh_is_unsupported_not_a_broken_stl(name: str) -> None:
    assert sniff_model_format(NOT_MESHES[name]) is None
    error = rejected(NOT_MESHES[name])
    assert error.code == "unsupported_type", error.message
    assert "STL, OBJ, PLY, GLB or 3MF" in error.message and "triangles" not in error.message


@pytest.mark.unit
def test_formats_are_sniffed_from_content_whatever_their_header_says() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    assert sniff_model_format(trimesh.exchange.stl.export_stl_ascii(sphere).encode()) == "stl"
    assert sniff_model_format(trimesh.exchange.ply.export_ply(sphere, encoding="ascii")) == "ply"
    solid_header = b"solid binary from a careless exporter".ljust(80) + exchange.export(sphere, "stl")[80:]
    assert sniff_model_format(solid_header) == "stl"
    mesh, _ = read_model(solid_header, **CAPS)
    assert len(mesh.faces) == len(sphere.faces)


@pytest.mark.security
def test_a_cut_short_binary_stl_is_called_truncated() -> None:
    data = exchange.export(box(), "stl")[:-30]
    error = rejected(data)
    assert error.code == "corrupt" and "truncated" in error.message


# --- defect 1: readers stop at the caps while reading ---------------------------------------


@pytest.mark.security
def test_3mf_of_millions_of_triangles_stops_at_the_cap() -> None:
    """The 234 KB file of the issue: 3 M ``<triangle>`` elements, deflated."""
    head = model_xml("").replace(b"</model>", b"")
    body = triangle_object(1, 0).split("<triangles>")[0] + "<triangles>"
    xml = (
        head
        + b"<resources>"
        + body.encode()
        + b'<triangle v1="0" v2="1" v3="2"/>' * 300_000
        + b'</triangles></mesh></object></resources><build><item objectid="1"/></build></model>'
    )
    data = zipped({"3D/3dmodel.model": xml})
    assert len(data) < 100_000
    error = rejected(data, max_faces=100_000)
    assert error.code == "too_large" and "100,000" in error.message


@pytest.mark.security
def test_3mf_that_expands_beyond_what_its_face_cap_needs_is_refused_from_its_directory() -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("3D/3dmodel.model", "w") as part,
    ):
        part.write(model_xml("<metadata>").replace(b"</model>", b""))
        for _ in range(200):
            part.write(b" " * (1 << 20))
        part.write(b"</metadata><resources/><build/></model>")
    data = buffer.getvalue()
    assert len(data) < 1_000_000
    error = rejected(data, max_faces=100_000, max_bytes=5_000_000)
    assert error.code == "too_large" and "expands to 210 MB" in error.message
    assert threemf.model_xml_limit(100_000) < 210 * 1024 * 1024


@pytest.mark.security
def test_3mf_whose_directory_understates_the_expansion_stops_at_the_stated_size() -> None:
    xml = model_xml(
        "<metadata>" + " " * 2_000_000 + f"</metadata><resources>{triangle_object(1)}</resources>"
    )
    data = bytearray(zipped({"3D/3dmodel.model": xml}))
    for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # the uncompressed size, both copies
        where = data.find(signature)
        struct.pack_into("<I", data, where + at, 1000)
    assert rejected(bytes(data)).code == "corrupt"


@pytest.mark.security
@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<model xmlns="' + _MODEL_NS.encode() + b'"><metadata>&b;</metadata></model>',
        model_xml(
            f'<resources>{triangle_object(1)}<object id="2"><components>'
            '<component objectid="3"/></components></object><object id="3"><components>'
            '<component objectid="2"/></components></object></resources>'
            '<build><item objectid="2"/></build>'
        ),
        model_xml(f'<resources>{triangle_object(1)}</resources><build><item objectid="9"/></build>'),
        model_xml(
            '<resources><object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/></vertices>'
            '<triangles><triangle v1="0" v2="1" v3="7"/></triangles></mesh></object></resources>'
            '<build><item objectid="1"/></build>'
        ),
    ],
    ids=["entities", "component-cycle", "missing-object", "index-out-of-range"],
)
def test_broken_3mf_models_are_corrupt(xml: bytes) -> None:
    assert rejected(zipped({"3D/3dmodel.model": xml})).code == "corrupt"


@pytest.mark.security
def test_3mf_components_that_multiply_past_the_cap_are_refused_before_copying() -> None:
    fan = "".join('<component objectid="1"/>' for _ in range(400))
    xml = model_xml(
        f"<resources>{triangle_object(1, triangles=300)}"
        f'<object id="2"><components>{fan}</components></object></resources>'
        '<build><item objectid="2"/></build>'
    )
    error = rejected(zipped({"3D/3dmodel.model": xml}), max_faces=100_000)
    assert error.code == "too_large" and "places more than" in error.message


@pytest.mark.security
def test_3mf_listing_too_many_parts_is_refused_before_the_directory_is_read() -> None:
    data = zipped({f"Metadata/{i}.txt": b"" for i in range(threemf.MAX_ENTRIES + 1)})
    assert rejected(data).code == "too_large"


@pytest.mark.unit
def test_3mf_build_items_components_parts_and_units_are_honoured() -> None:
    """Two build items (one moved), a component in another model part (the production
    extension, as Bambu Studio and OrcaSlicer write it), in centimetres."""
    production = 'xmlns:p="http://schemas.microsoft.com/3dmanufacturing/production/2015/06"'
    root = model_xml(
        f'<resources>{triangle_object(1)}<object id="2"><components>'
        '<component p:path="/3D/Objects/part.model" objectid="5" transform="1 0 0 0 1 0 0 0 1 0 0 7"/>'
        "</components></object></resources>"
        '<build><item objectid="1"/><item objectid="1" transform="1 0 0 0 1 0 0 0 1 10 0 0"/>'
        '<item objectid="2"/></build>',
        unit="centimeter",
        extra_ns=production,
    )
    part = model_xml(f"<resources>{triangle_object(5, offset=100)}</resources>")
    mesh, facts = read_model(zipped({"3D/3dmodel.model": root, "3D/Objects/part.model": part}), **CAPS)
    assert len(mesh.faces) == 3 and facts["units"] == "centimeter" and facts["scale_to_mm"] == 10.0
    xs = sorted({round(float(x), 6) for x in mesh.vertices[:, 0]})
    assert xs == [0.0, 1.0, 10.0, 11.0, 100.0, 101.0]
    assert set(np.round(mesh.vertices[:, 2], 6)) == {0.0, 7.0}


@pytest.mark.unit
def test_3mf_reads_what_trimesh_reads_for_a_moved_multi_object_scene() -> None:
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.icosphere(subdivisions=3, radius=5), node_name="ball")
    scene.add_geometry(
        trimesh.creation.box((4, 6, 8)),
        node_name="box",
        transform=trimesh.transformations.rotation_matrix(0.7, [1, 2, 3], [9, 0, 0]),
    )
    data = trimesh.exchange.threemf.export_3MF(scene)
    ours, _ = read_model(data, **CAPS)
    theirs = trimesh.load(io.BytesIO(data), file_type="3mf", force="mesh")
    assert len(ours.faces) == len(theirs.faces)
    assert ours.volume == pytest.approx(theirs.volume, rel=1e-9)
    assert ours.bounds == pytest.approx(theirs.bounds, abs=1e-9)


@pytest.mark.integration
def test_3mf_written_by_prusaslicer_is_read_at_its_size(tmp_path: Path) -> None:
    slicer = require_tool("prusa-slicer")
    source = tmp_path / "part.stl"
    source.write_bytes(exchange.export(box((30, 20, 10)), "stl"))
    out = tmp_path / "part.3mf"
    subprocess.run(
        [slicer, "--export-3mf", "--rotate", "30", "--output", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    mesh, facts = read_model(out.read_bytes(), **CAPS)
    assert facts["format"] == "3mf" and mesh.volume == pytest.approx(6000, rel=1e-3)
    assert sorted(mesh.extents)[0] == pytest.approx(10, rel=1e-3)


@pytest.mark.security
def test_ascii_stl_stops_at_the_cap_and_refuses_endless_lines() -> None:
    facet = b"facet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n"
    assert rejected(b"solid x\n" + facet * 1001 + b"endsolid\n", max_faces=1000).code == "too_large"
    assert rejected(b"solid x\nfacet " + b"vertex" * 300_000).code == "corrupt"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("stl", lambda m: trimesh.exchange.stl.export_stl_ascii(m).encode()),
        ("stl", lambda m: exchange.export(m, "stl")),
        ("obj", lambda m: exchange.export(m, "obj")),
        ("ply", lambda m: trimesh.exchange.ply.export_ply(m, encoding="ascii")),
        ("ply", lambda m: exchange.export(m, "ply")),
    ],
    ids=["ascii-stl", "binary-stl", "obj", "ascii-ply", "binary-ply"],
)
def test_lean_readers_read_what_trimesh_reads(fmt: str, data) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=12)
    sphere.visual.vertex_colors = np.tile([10, 200, 30, 255], (len(sphere.vertices), 1))
    raw = data(sphere)
    ours, facts = read_model(raw, **CAPS)
    theirs = trimesh.load(io.BytesIO(raw), file_type=fmt, force="mesh", process=False)
    assert facts["format"] == fmt
    assert np.array_equal(ours.faces, theirs.faces)
    assert np.allclose(ours.vertices, theirs.vertices)
    if fmt in ("obj", "ply"):
        assert np.array_equal(ours.visual.vertex_colors, theirs.visual.vertex_colors)


@pytest.mark.unit
def test_polygons_are_fanned_into_triangles() -> None:
    quads = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nf 1 2 3 4\nf -5 -4 -1\n"
    mesh, _ = read_model(quads, **CAPS)
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]
    header = (
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
    )
    header += b"element face 2\nproperty list uchar int vertex_indices\nend_header\n"
    mixed = header + b"0 0 0\n1 0 0\n1 1 0\n0 1 0\n0 0 1\n4 0 1 2 3\n3 0 1 4\n"
    mesh, _ = read_model(mixed, **CAPS)
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]


@pytest.mark.security
def test_obj_and_ply_polygons_count_as_their_triangles() -> None:
    ring = " ".join(str(i) for i in range(1, 201))
    obj = "".join(f"v {i} {i % 7} 0\n" for i in range(200)) + f"f {ring}\n" * 6
    assert rejected(obj.encode(), max_faces=1000).code == "too_large"
    header = (
        b"ply\nformat binary_little_endian 1.0\nelement vertex 255\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 10\nproperty list uchar int vertex_indices\nend_header\n"
    )
    face = struct.pack("<B", 255) + struct.pack("<255i", *range(255))
    ply = header + np.zeros(255 * 3, "<f4").tobytes() + face * 10
    error = rejected(ply, max_faces=1000)
    assert error.code == "too_large" and "2,530" in error.message


@pytest.mark.security
def test_ply_whose_header_promises_more_than_its_body_holds_is_corrupt() -> None:
    header = (
        b"ply\nformat binary_little_endian 1.0\nelement vertex 90000\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
    )
    assert rejected(header + b"\0" * 100).code == "corrupt"


def glb(tree: dict, binary: bytes = b"") -> bytes:
    text = json.dumps(tree).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
    if binary:
        chunks += struct.pack("<II", len(binary), 0x004E4942) + binary
    return b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks


@pytest.mark.security
def test_glb_accessor_asking_for_more_than_the_file_holds_is_refused_without_allocating() -> None:
    tree = {
        "asset": {"version": "2.0"},
        "accessors": [{"componentType": 5126, "type": "VEC3", "count": 400_000_000}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
    }
    assert rejected(glb(tree)).code == "corrupt"
    tree["accessors"][0]["bufferView"] = 0
    tree["bufferViews"] = [{"buffer": 0, "byteLength": 36}]
    tree["buffers"] = [{"byteLength": 36}]
    assert rejected(glb(tree, b"\0" * 36)).code == "corrupt"


@pytest.mark.security
def test_glb_placing_one_mesh_from_many_parents_or_too_often_is_refused() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4)  # 5120 triangles
    data = exchange.export(sphere, "glb")
    length = struct.unpack_from("<I", data, 12)[0]
    tree = json.loads(data[20 : 20 + length])
    binary = data[20 + length + 8 :]
    tree["nodes"] = [{"children": [1, 1]}, {"mesh": 0}]  # a node with two parents
    tree["scenes"] = [{"nodes": [0]}]
    assert rejected(glb(tree, binary)).code == "corrupt"
    tree["nodes"] = [{"children": list(range(1, 31))}] + [{"mesh": 0} for _ in range(30)]
    error = rejected(glb(tree, binary), max_faces=100_000)
    assert error.code == "too_large" and "153,600" in error.message
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = (
        b"glTF" + struct.pack("<II", 2, 20 + len(deep)) + struct.pack("<II", len(deep), 0x4E4F534A) + deep
    )
    assert rejected(nested).code == "corrupt"
