"""Colour prints (``colors``): each of the picture's colours its own closed part, the parts touching
without overlapping and filling the object exactly, each part where its colour is in the picture;
the files slicers read (3MF with one extruder per part: PrusaSlicer changes tools), GLB with a
material per part, a ZIP of one STL per colour."""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from pathlib import Path

import manifold3d
import numpy as np
import pytest

import orfeas
from orfeas.errors import InputRejected
from orfeas.mesh import exchange
from orfeas.mesh.parts import Part
from orfeas.mesh.raster import PixelGrid, height_map
from orfeas.mesh.report import PLA_DENSITY
from orfeas.mesh.verify import check
from tests.conftest import gltf_validation, sliced, slicer_problems
from tests.pictures import PICTURES, make_model

#: The badge's colours: the dark outline, the blue field, the yellow star (and the light plate).
DARK, BLUE, YELLOW, PLATE = (30, 30, 40), (30, 110, 200), (250, 210, 40), (235, 235, 235)

CASES = {
    # On a plate: the plate, then the design's colours (the one along its edge first, then by area).
    "extrude-inlay": ("logo-badge", {"mode": "extrude", "colors": 4}, [PLATE, DARK, BLUE, YELLOW]),
    "extrude-stacked": (
        "logo-badge",
        {"mode": "extrude", "colors": 4, "color_strategy": "stacked"},
        [PLATE, DARK, BLUE, YELLOW],
    ),
    # A keychain's backing takes the colour along the design's edge.
    "keychain": ("logo-badge", {"mode": "keychain", "colors": 3}, [DARK, BLUE, YELLOW]),
    "keychain-stacked": (
        "logo-badge",
        {"mode": "keychain", "colors": 3, "color_strategy": "stacked", "color_depth_mm": 0.4},
        [DARK, BLUE, YELLOW],
    ),
    "relief": (
        "logo-badge",
        {"mode": "relief", "colors": 4, "target_faces": 20_000},
        [PLATE, DARK, BLUE, YELLOW],
    ),
    "text": ("text-dejavu", {"mode": "extrude", "colors": 2}, None),
}

_models: dict[str, orfeas.Model] = {}


def _model(case: str) -> orfeas.Model:
    if case not in _models:
        name, params, _ = CASES[case]
        _models[case] = make_model(name, params)
    return _models[case]


def _solid(mesh) -> manifold3d.Manifold:
    """A part as a manifold3d solid in float64 (float32 would add overlaps of its own rounding)."""
    return manifold3d.Manifold(
        manifold3d.Mesh64(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float64),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint64),
        )
    )


def _distance(a: tuple[int, ...] | np.ndarray, b: tuple[int, ...] | np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


def _seen_from_above(parts: list[Part], pixel_mm: float = 0.15) -> tuple[PixelGrid, np.ndarray]:
    """Which part is on top at each pixel (−1: nothing)."""
    low = np.min([p.mesh.bounds[0] for p in parts], axis=0)
    high = np.max([p.mesh.bounds[1] for p in parts], axis=0)
    grid = PixelGrid.around(low, high, pixel_mm)
    best = np.full(grid.shape, -np.inf)
    who = np.full(grid.shape, -1)
    for i, part in enumerate(parts):
        z = height_map(part.mesh.vertices, part.mesh.faces, grid).height
        win = np.nan_to_num(z, nan=-np.inf) > best + 1e-6
        best[win], who[win] = z[win], i
    return grid, who


@pytest.mark.integration
@pytest.mark.parametrize("case", list(CASES))
def test_the_parts_are_closed_disjoint_and_fill_the_one_solid(case: str) -> None:
    model = _model(case)
    parts = model.parts
    assert parts is not None
    whole = check(model.mesh)
    assert whole.ok and whole.bodies == 1  # what is printed is one solid
    volumes = []
    for part in parts:
        found = check(part.mesh)
        assert found.ok, f"{part.name}: {found.problems()}"  # each part watertight on its own
        volumes.append(found.volume_mm3)
    # Their volumes add up to the one solid's ...
    assert sum(volumes) == pytest.approx(whole.volume_mm3, rel=1e-6)
    # ... and along vertical lines through the object no length is inside two of them, and they
    # cover exactly what the solid covers: measured by crossing their triangles, so the check does
    # not lean on the booleans that cut them (a boolean between two solids that share walls
    # measures its own rounding).
    rng = np.random.default_rng(0)
    low, high = model.mesh.bounds
    columns = low[:2] + rng.random((400, 2)) * (high[:2] - low[:2])
    spans = np.array([_inside_lengths(p.mesh, columns) for p in parts])  # (part, column)
    whole_span = _inside_lengths(model.mesh, columns)
    assert np.allclose(spans.sum(axis=0), whole_span, atol=1e-6)  # no overlap, no gap
    assert whole_span.max() > 0


def _inside_lengths(mesh, columns: np.ndarray) -> np.ndarray:
    """How long each vertical line through ``columns`` (x, y) runs inside the closed ``mesh``."""
    triangles = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    out = np.zeros(len(columns))
    for n, (x, y) in enumerate(columns):
        # Barycentric coordinates of (x, y) in each triangle seen from above.
        d = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
        ok = np.abs(d) > 1e-15
        u = np.where(
            ok,
            ((b[:, 1] - c[:, 1]) * (x - c[:, 0]) + (c[:, 0] - b[:, 0]) * (y - c[:, 1])) / np.where(ok, d, 1),
            -1,
        )
        v = np.where(
            ok,
            ((c[:, 1] - a[:, 1]) * (x - c[:, 0]) + (a[:, 0] - c[:, 0]) * (y - c[:, 1])) / np.where(ok, d, 1),
            -1,
        )
        w = 1 - u - v
        hit = ok & (u >= 0) & (v >= 0) & (w >= 0)
        z = u[hit] * a[hit, 2] + v[hit] * b[hit, 2] + w[hit] * c[hit, 2]
        up = np.sign(d[hit])  # faces looking up leave the solid, faces looking down enter it
        order = np.argsort(z)
        out[n] = float(np.sum(up[order] * z[order]))  # Σ exits − Σ entries
    return out


@pytest.mark.integration
@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][2] is not None])
def test_each_colour_is_where_the_picture_has_it(case: str) -> None:
    """From above, each pixel shows the part whose colour is nearest the picture's colour there."""
    model = _model(case)
    _, _, expected = CASES[case]
    parts = model.parts
    assert parts is not None and len(parts) == len(expected)
    for part, colour in zip(parts, expected, strict=True):  # base first, then by area
        assert _distance(part.colour, colour) < 30, (part.hex, colour)
    grid, who = _seen_from_above(parts)
    assert model.texture is not None
    x, y = grid.centres()
    uv = model.texture.uv(np.column_stack([x.ravel(), y.ravel()]))
    image = model.texture.image
    cols = np.clip((uv[:, 0] * image.shape[1]).astype(int), 0, image.shape[1] - 1)
    rows = np.clip(((1 - uv[:, 1]) * image.shape[0]).astype(int), 0, image.shape[0] - 1)
    picture = image[rows, cols].reshape(*grid.shape, 3).astype(float)
    colours = np.array([p.colour for p in parts], float)
    nearest = np.argmin(np.linalg.norm(picture[..., None, :] - colours, axis=-1), axis=-1)
    # Only the design counts (a keychain's backing and loop are not in the picture).
    design = (who >= 0) & (np.min(np.linalg.norm(picture[..., None, :] - colours, axis=-1), axis=-1) < 40)
    agree = float(np.mean(nearest[design] == who[design]))
    assert design.mean() > 0.3 and agree >= 0.96, f"{agree:.3f} of the top agrees with the picture"
    # And every colour shows over (about) its share of the top.
    shown = np.bincount(who[who >= 0], minlength=len(parts)) / np.count_nonzero(who >= 0)
    shares = [c["share"] for c in model.report["colours"]["parts"]]
    assert np.allclose(shown, shares, atol=0.03), (shown, shares)


@pytest.mark.integration
def test_stacked_colours_stand_a_step_higher_each() -> None:
    model = _model("extrude-stacked")
    parts = model.parts
    assert parts is not None
    tops = [float(p.mesh.bounds[1, 2]) for p in parts]
    depth = model.report["parameters"]["color_depth_mm"]
    base_top = model.report["parameters"]["base_mm"] + model.report["parameters"]["depth_mm"]
    assert tops == pytest.approx([base_top + k * depth for k in range(len(parts))], abs=1e-3)


@pytest.mark.integration
def test_inlay_colours_are_flush_with_the_top() -> None:
    model = _model("extrude-inlay")
    parts = model.parts
    assert parts is not None
    top = float(model.mesh.bounds[1, 2])
    for part in parts[1:]:
        assert part.mesh.bounds[1, 2] == pytest.approx(top, abs=1e-4)
        depth = model.report["parameters"]["color_depth_mm"]
        assert part.mesh.bounds[0, 2] >= top - depth - 1e-4  # only the top layers change colour


@pytest.mark.integration
def test_typeset_text_prints_its_letters_in_their_colour_on_the_plate() -> None:
    model = _model("text")
    parts = model.parts
    assert parts is not None and len(parts) == 2
    assert _distance(parts[0].colour, PLATE) < 30 and parts[0].name == "plate"
    assert _distance(parts[1].colour, (0, 0, 0)) < 80  # the letters, in the lettering's dark ink


@pytest.mark.integration
def test_the_report_gives_the_palette_and_filament_per_colour() -> None:
    model = _model("keychain")
    colours = model.report["colours"]
    assert colours["count"] == 3 and [c["hex"] for c in colours["parts"]] == [
        p.hex for p in model.parts or []
    ]
    assert sum(c["share"] for c in colours["parts"]) == pytest.approx(1.0, abs=1e-3)
    for entry, part in zip(colours["parts"], model.parts or [], strict=True):
        volume_cm3 = check(part.mesh).volume_mm3 / 1000
        assert entry["filament_g"] == pytest.approx(volume_cm3 * PLA_DENSITY, abs=0.01)
        assert entry["filament_m"] == pytest.approx(volume_cm3 * 1000 / (np.pi * 0.875**2) / 1000, abs=0.002)
    assert model.report["engine"]["colours"] == 3


@pytest.mark.integration
def test_a_picture_of_fewer_colours_than_asked_says_so() -> None:
    model = orfeas.generate(PICTURES["logo-badge"](), params={"mode": "keychain", "colors": 8})
    assert model.parts is not None and len(model.parts) == 3
    assert "3 colours" in model.report["engine"]["colours_found"]


@pytest.mark.integration
def test_an_inlay_deeper_than_the_object_is_refused() -> None:
    with pytest.raises(InputRejected, match="color_depth_mm"):
        orfeas.generate(
            PICTURES["logo-badge"](), params={"mode": "extrude", "colors": 3, "color_depth_mm": 9}
        )


@pytest.mark.integration
def test_the_3mf_carries_base_materials_and_each_slicers_extruder_per_part() -> None:
    model = _model("keychain")
    data = model.export("3mf")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("3D/3dmodel.model").decode()
        prusa = archive.read("Metadata/Slic3r_PE_model.config").decode()
        bambu = archive.read("Metadata/model_settings.config").decode()
    bases = re.findall(r'<base name="[^"]*" displaycolor="(#[0-9A-F]{8})"', text)
    assert bases == [p.hex.upper() + "FF" for p in model.parts or []]
    assert re.findall(r'key="extruder" value="(\d)"', prusa) == ["1", "2", "3"]
    assert re.findall(r'<part [^>]*subtype="normal_part"', bambu) and len(re.findall(r"<part ", bambu)) == 3
    assert re.findall(r'<metadata key="extruder" value="(\d)"/>\n    </part>', bambu) == ["1", "2", "3"]
    # Triangle ranges cover the mesh exactly, part after part.
    ranges = [tuple(map(int, r)) for r in re.findall(r'firstid="(\d+)" lastid="(\d+)"', prusa)]
    assert ranges[0][0] == 0 and all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert ranges[-1][1] + 1 == text.count("<triangle ")
    # Read back, it is the object: one solid of the union's volume.
    again = exchange.load(data, "3mf")
    assert check(again).ok and check(again).bodies == 1
    assert check(again).volume_mm3 == pytest.approx(check(model.mesh).volume_mm3, rel=1e-3)


@pytest.mark.integration
@pytest.mark.parametrize("case", ["keychain", "keychain-stacked", "extrude-inlay", "extrude-stacked"])
def test_prusaslicer_prints_each_colour_with_its_own_tool(case: str, tmp_path: Path) -> None:
    model = _model(case)
    count = len(model.parts or [])
    path = model.save(tmp_path / "model.3mf")
    assert slicer_problems([path], parts=count) == {}
    gcode = sliced(path, tmp_path / "model.gcode", "--nozzle-diameter", ",".join(["0.4"] * count)).decode()
    tools = sorted(set(re.findall(r"^T(\d+)\s*$", gcode, flags=re.MULTILINE)), key=int)
    assert tools == [str(k) for k in range(count)], tools  # one tool per colour, each used


@pytest.mark.integration
def test_the_glb_has_one_material_per_part_and_validates(tmp_path: Path) -> None:
    model = _model("extrude-inlay")
    path = model.save(tmp_path / "model.glb")
    (report,) = gltf_validation([path])
    assert report["numErrors"] == 0, report
    document = json.loads(_glb_json(path.read_bytes()))
    assert len(document["materials"]) == len(model.parts or []) == len(document["meshes"])
    factors = [m["pbrMetallicRoughness"]["baseColorFactor"][:3] for m in document["materials"]]
    for factor, part in zip(factors, model.parts or [], strict=True):  # linear light, from sRGB
        srgb = np.where(
            np.array(factor) <= 0.0031308,
            12.92 * np.array(factor),
            1.055 * np.array(factor) ** (1 / 2.4) - 0.055,
        )
        assert _distance(srgb * 255, part.colour) < 6  # 8 bits of linear light: dark colours move most


def _glb_json(data: bytes) -> str:
    length = int.from_bytes(data[12:16], "little")
    return data[20 : 20 + length].decode()


@pytest.mark.integration
@pytest.mark.parametrize("case", ["keychain", "extrude-inlay", "extrude-stacked"])
def test_the_stl_zip_holds_one_closed_stl_per_colour(case: str, tmp_path: Path) -> None:
    """Each STL holds up once its vertices are merged by position (as every STL reader does);
    PrusaSlicer loads each as it is. (A relief's are known not to yet: see the README.)"""
    model = _model(case)
    path = model.save(tmp_path / "model.stl.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == [
            f"{n}-{p.name.replace(' ', '-')}-{p.hex[1:]}.stl" for n, p in enumerate(model.parts or [], 1)
        ]
        for name, part in zip(names, model.parts or [], strict=True):
            mesh = exchange.load(archive.read(name), "stl")
            assert check(mesh).ok
            assert check(mesh).volume_mm3 == pytest.approx(check(part.mesh).volume_mm3, rel=1e-4)
        archive.extractall(tmp_path / "parts")
    assert slicer_problems(sorted((tmp_path / "parts").glob("*.stl"))) == {}
    again = exchange.load(path.read_bytes(), "stl.zip")
    assert check(again).bodies == 1


@pytest.mark.unit
def test_colours_for_a_mode_that_cannot_print_them_are_refused_with_the_modes_that_can() -> None:
    with pytest.raises(InputRejected, match="extrude, keychain"):
        orfeas.generate(PICTURES["logo-badge"](), params={"mode": "puffy", "colors": 3})
