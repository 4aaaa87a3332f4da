"""The ``revolve`` mode: drawn side views of round things become round solids that match the
drawing; vessels have their wall, floor, opening and capacity; what is not round is refused or
reported; the picture is wrapped around the body."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import manifold3d
import numpy as np
import pytest
import trimesh

import orfeas
from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, EngineOutput, parameters_schema, validate_parameters
from orfeas.engines.relief.profile import mirror_axis
from orfeas.errors import InputRejected
from orfeas.mesh import exchange
from orfeas.mesh.revolve import section_extents
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import gltf_validation, png_bytes, require_tool
from tests.engines import round_pictures as rp

SIZE_MM = 80.0
#: name → (drawing, its profile knots, balls on it)
DRAWN = {
    "pawn": (rp.pawn, rp.PAWN, rp.PAWN_HEAD),
    "rook": (rp.rook, rp.ROOK, ()),
    "bottle": (rp.bottle, rp.BOTTLE, ()),
    "wine_glass": (rp.wine_glass, rp.WINE_GLASS, ()),
    "vase": (rp.vase, rp.VASE, ()),
    "cylinder_cup": (rp.cylinder_cup, rp.CYLINDER, ()),
}


@cache
def _turned(name: str, **params: Any) -> EngineOutput:
    """A drawing through the relief engine in revolve mode (built once per test process)."""
    picture = getattr(rp, name)()
    engine = get_engine("relief")
    checked = validate_parameters(engine, {"mode": "revolve", "size_mm": SIZE_MM, **params})
    return engine.generate(EngineInput(rgba=picture), checked, Settings())


def _drawn_radius(name: str, mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """(the mesh's radius, the drawing's half-width) in mm at each of the drawing's rows."""
    _, knots, balls = DRAWN[name]
    top, bottom = rp.drawn_rows(knots, balls)
    pixel_mm = SIZE_MM / (bottom - top)
    y = np.arange(top, bottom) + 0.5
    extents = section_extents(mesh, (bottom - y) * pixel_mm)
    return (extents[:, 1] - extents[:, 0]) / 2, rp.half_width(knots, y, balls) * pixel_mm


def _solid(mesh: trimesh.Trimesh) -> manifold3d.Manifold:
    return manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.asarray(mesh.vertices, np.float32), tri_verts=np.asarray(mesh.faces, np.uint32)
        )
    )


def _hits(solid: manifold3d.Manifold, start: np.ndarray, end: np.ndarray) -> list[float]:
    """Heights (z) where the segment start → end crosses the surface, in order."""
    return [float(hit.position[2]) for hit in solid.ray_cast(list(start), list(end))]


def _down_the_axis(mesh: trimesh.Trimesh) -> list[float]:
    """Where a vertical ray from above, just beside the axis, crosses the surface (heights, in
    order). Beside it: on the axis itself the ray would meet every fan triangle's shared corner."""
    return _hits(_solid(mesh), np.array([0.013, 0.007, mesh.bounds[1, 2] + 5]), np.array([0.013, 0.007, -5]))


def _wall_thickness(mesh: trimesh.Trimesh, below: float, samples: int = 600) -> np.ndarray:
    """At points spread over the surface lower than ``below``: how much material lies straight
    behind each (along the inward normal, up to where the ray leaves the solid).

    Points close under the rim are left out: there the ray can leave through the rim's top face
    or the lip's corner, which says nothing about the wall.
    """
    solid = _solid(mesh)
    points, faces = trimesh.sample.sample_surface(mesh, samples, seed=0)
    normals = mesh.face_normals[faces]
    low = points[:, 2] < below
    points, normals = points[low], normals[low]
    out = []
    for point, normal in zip(points, normals, strict=True):
        hits = solid.ray_cast(list(point - 1e-3 * normal), list(point - 200 * normal))
        if hits:
            out.append(float(np.linalg.norm(np.asarray(hits[0].position) - point)))
    return np.array(out)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("pawn", {}),
        ("rook", {}),
        ("bottle", {}),
        ("wine_glass", {"min_diameter_mm": 1.0}),
        ("vase", {}),
        ("vase", {"hollow": True}),
    ],
    ids=["pawn", "rook", "bottle", "wine_glass", "vase", "hollow_vase"],
)
def test_round_drawings_become_round_bodies_that_match_them(name: str, params: dict) -> None:
    out = _turned(name, **params)
    mesh = out.mesh
    result = check(mesh)
    assert result.ok, result.problems()
    assert result.bodies == 1
    width, depth, height = mesh.extents
    assert height == pytest.approx(SIZE_MM, abs=1e-6)  # size_mm is the height
    assert depth == pytest.approx(width, rel=0.02)  # round: as deep as wide
    assert mesh.bounds[0, 2] == pytest.approx(0.0)  # standing on the bed
    fidelity = out.notes["fidelity"]
    assert fidelity["silhouette_iou"] >= 0.95, fidelity
    # Against the drawing itself, not only the mask the engine saw.
    radius, drawn = _drawn_radius(name, mesh)
    deviation = np.abs(radius - drawn)
    assert deviation.mean() <= 0.1 and np.percentile(deviation, 95) <= 0.3, (
        deviation.mean(),
        deviation.max(),
    )
    assert np.all(out.mesh.visual.vertex_colors[:, 3] == 255)


@pytest.mark.unit
def test_facets_keep_within_the_chordal_bound_and_the_face_budget() -> None:
    out = _turned("bottle", target_faces=4000)
    assert len(out.mesh.faces) <= 4000 and check(out.mesh).ok
    figures = out.notes["revolve"]
    assert figures["chordal_error_mm"] <= 0.05
    full = _turned("bottle")
    assert len(full.mesh.faces) <= 50_000
    radius, drawn = _drawn_radius("bottle", out.mesh)
    assert np.percentile(np.abs(radius - drawn), 95) <= 0.3  # a small budget still follows the drawing
    # Faces go where the picture needs them: a plain pawn needs only its shape's, a bottle's
    # label more segments around and more rings along it.
    pawn = _turned("pawn").notes["revolve"]
    assert pawn["segments"] == 64 and len(_turned("pawn").mesh.faces) < 15_000
    bottle = full.notes["revolve"]
    assert bottle["segments"] > 64 and bottle["profile_points"] > 2 * pawn["profile_points"]


@pytest.mark.unit
def test_steps_stay_sharp() -> None:
    # The pawn's collar is 80 px wide from row 301 to 324 with 45 and 60 px just above and below;
    # the rook's crown is 100 px over a 72 px body. Smoothing must not round them off.
    pawn, drawn = _drawn_radius("pawn", _turned("pawn").mesh)
    top = rp.drawn_rows(rp.PAWN, rp.PAWN_HEAD)[0]
    rows = np.arange(len(pawn)) + top + 0.5
    collar = (rows > 304) & (rows < 321)
    assert np.abs(pawn[collar] - drawn[collar]).max() <= 0.15
    just_outside = (np.abs(rows - 297.5) < 1) | (np.abs(rows - 328.5) < 1)
    assert np.abs(pawn[just_outside] - drawn[just_outside]).max() <= 0.35
    rook, drawn = _drawn_radius("rook", _turned("rook").mesh)
    rows = np.arange(len(rook)) + 40.5
    crown, body = (rows > 70) & (rows < 117), (rows > 124) & (rows < 140)
    assert np.abs(rook[crown] - drawn[crown]).max() <= 0.15
    assert np.abs(rook[body] - drawn[body]).max() <= 0.3


@pytest.mark.unit
def test_the_axis_is_found_and_can_be_set() -> None:
    picture = np.pad(rp.pawn(), ((0, 0), (57, 0), (0, 0)))  # the pawn's axis now at column 249
    _, iou = mirror_axis(picture[..., 3] >= 128)
    assert iou > 0.99
    engine = get_engine("relief")
    found = engine.generate(
        EngineInput(rgba=picture), validate_parameters(engine, {"mode": "revolve"}), Settings()
    ).notes["revolve"]
    assert found["axis_found"] and found["axis_x"] == pytest.approx(249 / 441, abs=0.6 / 441)
    # Set by hand (here a little off the middle): the turned body follows that axis.
    given = engine.generate(
        EngineInput(rgba=picture),
        validate_parameters(engine, {"mode": "revolve", "axis_x": 0.55}),
        Settings(),
    )
    assert not given.notes["revolve"]["axis_found"]
    assert given.notes["revolve"]["axis_x"] == pytest.approx(0.55, abs=1e-3)
    assert given.notes["revolve"]["symmetry"] < found["symmetry"]


@pytest.mark.unit
def test_the_better_side_ignores_a_damaged_one() -> None:
    picture = rp.vase()
    picture[250:330, 70:110] = 0  # a bite out of the left side
    engine = get_engine("relief")

    def turned(side: str) -> EngineOutput:
        params = validate_parameters(engine, {"mode": "revolve", "profile_side": side, "size_mm": SIZE_MM})
        return engine.generate(EngineInput(rgba=picture), params, Settings())

    better, average = turned("better"), turned("average")
    assert better.notes["revolve"]["side"] == "right"
    radius, drawn = _drawn_radius("vase", better.mesh)
    assert np.percentile(np.abs(radius - drawn), 95) <= 0.3
    radius, drawn = _drawn_radius("vase", average.mesh)
    assert np.abs(radius - drawn).max() > 2.0  # averaging halves the bite, it does not hide it


@pytest.mark.unit
def test_a_thin_stem_is_thickened_and_the_report_says_so() -> None:
    out = _turned("wine_glass")  # its stem is drawn 2.2 mm thick
    runs = out.notes["revolve"]["thickened"]
    assert len(runs) == 1
    run = runs[0]
    assert run["thinnest_mm"] == pytest.approx(2.23, abs=0.1) and run["now_mm"] == 3.0
    assert run["from_z_mm"] < 7 and run["to_z_mm"] > 37  # the stem: 5.6 to 38.7 mm above the bed
    assert any("thickened to 3 mm" in w for w in out.notes["warnings"])
    heights = np.linspace(10, 35, 26)
    extents = section_extents(out.mesh, heights)
    assert (extents[:, 1] - extents[:, 0]) / 2 == pytest.approx(1.5, abs=0.01)
    assert out.notes["fidelity"]["silhouette_iou"] >= 0.95


@pytest.mark.unit
def test_a_hollow_cup_has_its_wall_floor_opening_and_capacity() -> None:
    out = _turned("cylinder_cup", hollow=True, wall_mm=2.0, bottom_mm=3.0)
    mesh = out.mesh
    assert check(mesh).ok and check(mesh).bodies == 1
    radius, height = SIZE_MM / 4, SIZE_MM  # drawn 200 × 400 px
    assert mesh.extents == pytest.approx([2 * radius, 2 * radius, height], rel=0.01)
    # Down the axis: no surface above the rim (the top is open), then the floor at 3 mm, then
    # the bottom at 0 (the bottom is closed).
    assert _down_the_axis(mesh) == pytest.approx([3.0, 0.0], abs=0.02)
    wall = _wall_thickness(mesh, below=height - 4.0)
    assert len(wall) > 500 and wall.min() >= 2.0
    # Half-way up, the wall is 2 mm thick and no more: it is a cup, not a solid.
    assert _hits(_solid(mesh), np.array([-30, 0, 40]), np.array([30, 0, 40])) == pytest.approx(
        [40, 40, 40, 40]
    )
    across = [hit.position[0] for hit in _solid(mesh).ray_cast([-30, 0, 40], [30, 0, 40])]
    assert across[1] - across[0] == pytest.approx(2.0, abs=0.05)
    vessel = out.notes["vessel"]
    expected_ml = np.pi * (radius - 2.0) ** 2 * (height - 3.0) / 1000
    assert vessel["capacity_ml"] == pytest.approx(expected_ml, rel=0.02)
    # The mask's corners are rounded a little, so the rim is a fraction of a millimetre narrower.
    assert vessel["opening_diameter_mm"] == pytest.approx(2 * (radius - 2.0), abs=0.6)


@pytest.mark.unit
def test_a_hollow_vase_has_walls_at_least_the_setting_a_closed_bottom_and_an_open_top() -> None:
    out = _turned("vase", hollow=True)
    mesh = out.mesh
    wall = _wall_thickness(mesh, below=SIZE_MM - 3.2)
    assert len(wall) > 500
    assert wall.min() >= 1.6
    assert np.median(wall) < 2.0  # and thin: a vase, not a solid
    # The rim: a flat ring at the top, at least a wall wide.
    rim = section_extents(mesh, np.array([SIZE_MM - 1e-4]))[0, 1]
    assert rim - out.notes["vessel"]["opening_diameter_mm"] / 2 >= 1.6
    assert _down_the_axis(mesh) == pytest.approx([2.0, 0.0], abs=0.02)  # open top, closed bottom
    # Its capacity against the drawing: π (r − wall)² summed over the heights inside.
    _, drawn = _drawn_radius("vase", mesh)
    pixel_mm = SIZE_MM / 430
    inner = np.clip(drawn - 1.6, 0, None)
    heights = (np.arange(len(drawn))[::-1] + 0.5) * pixel_mm
    expected_ml = float(np.sum(np.pi * inner[heights > 2.0] ** 2) * pixel_mm / 1000)
    assert out.notes["vessel"]["capacity_ml"] == pytest.approx(expected_ml, rel=0.05)


@pytest.mark.unit
def test_a_cup_with_a_handle_is_turned_and_the_report_says_it_is_not_round() -> None:
    out = _turned("cup_with_handle")
    assert check(out.mesh).ok and check(out.mesh).bodies == 1
    extras = out.notes["revolve"]["not_round"]
    assert len(extras) == 1 and extras[0]["side"] == "right" and 0.05 < extras[0]["share"] < 0.15
    assert any("handle" in w and "left out" in w for w in out.notes["warnings"])
    assert out.notes["revolve"]["symmetry"] < 0.95
    # The body is turned without the handle: as wide as the cup's body (200 px of 340).
    assert out.mesh.extents[0] == pytest.approx(200 / 340 * SIZE_MM, rel=0.03)
    assert out.notes["fidelity"]["silhouette_iou"] < 0.95  # the handle is missing, and it shows


@pytest.mark.unit
def test_a_person_is_refused_unless_asked_to_warn() -> None:
    with pytest.raises(InputRejected) as refused:
        _turned("person")
    assert refused.value.code == "not_round"
    assert "not look like a round object" in refused.value.message and "puffy" in refused.value.message
    warned = _turned("person", when_not_round="warn")
    assert check(warned.mesh).ok
    assert any("not a round object" in w for w in warned.notes["warnings"])
    assert warned.notes["revolve"]["profile_fill"] < 0.9


@pytest.mark.unit
def test_a_hollow_wine_glass_keeps_its_stem_and_foot_solid() -> None:
    out = _turned("wine_glass", hollow=True)
    assert check(out.mesh).ok and check(out.mesh).bodies == 1
    floor = out.notes["vessel"]["floor_mm"]
    assert 38 < floor < 50  # the bowl's bottom: the stem ends 38.7 mm above the bed
    assert any("solid (a stem or a foot" in w for w in out.notes["warnings"])
    # Down the axis: the bowl's floor, then solid glass all the way to the bed.
    assert _down_the_axis(out.mesh) == pytest.approx([floor, 0.0], abs=0.05)


@pytest.mark.unit
def test_a_flat_picture_is_refused_rather_than_made_huge() -> None:
    bar = np.zeros((100, 300, 4), np.uint8)
    bar[45:55] = 255  # 30 times wider than high: 2400 mm wide at 80 mm high
    engine = get_engine("relief")
    with pytest.raises(InputRejected) as caught:
        engine.generate(EngineInput(rgba=bar), validate_parameters(engine, {"mode": "revolve"}), Settings())
    assert caught.value.field == "size_mm" and "2400 mm wide" in caught.value.message


@pytest.mark.unit
def test_a_closed_top_cannot_be_hollow() -> None:
    with pytest.raises(InputRejected) as caught:
        _turned("pawn", hollow=True)
    assert caught.value.code == "invalid_parameter" and caught.value.field == "hollow"
    assert "no opening" in caught.value.message


@pytest.mark.unit
def test_the_label_is_wrapped_around_the_bottle_front_and_back() -> None:
    out = _turned("bottle")
    vertices, colours = out.mesh.vertices, out.mesh.visual.vertex_colors[:, :3].astype(int)
    pixel_mm = SIZE_MM / 430
    outer = np.hypot(vertices[:, 0], vertices[:, 1]) > 0.9 * 70 * pixel_mm

    def colour_at(row: float, front: bool) -> np.ndarray:
        z = (470 - row) * pixel_mm
        near = outer & (np.abs(vertices[:, 2] - z) < 0.6) & (np.abs(vertices[:, 0]) < 5)
        near &= vertices[:, 1] < 0 if front else vertices[:, 1] > 0
        assert near.sum() >= 3
        return np.median(colours[near], axis=0)

    for front in (True, False):
        assert colour_at(332, front) == pytest.approx([200, 30, 40], abs=25)  # the red stripe
        assert colour_at(300, front) == pytest.approx([245, 240, 226], abs=25)  # the label
        assert colour_at(260, front) == pytest.approx([38, 110, 62], abs=25)  # green glass


@pytest.mark.unit
def test_a_drawing_on_white_paper_works_too() -> None:
    engine = get_engine("relief")
    params = validate_parameters(engine, {"mode": "revolve", "size_mm": SIZE_MM})
    out = engine.generate(EngineInput(rgba=rp.bottle(on_white=True)), params, Settings())
    assert out.notes["mask_method"] in ("neural", "grabcut")  # neural where u2netp.onnx is placed
    assert check(out.mesh).ok and out.notes["fidelity"]["silhouette_iou"] >= 0.95
    radius, drawn = _drawn_radius("bottle", out.mesh)
    assert np.percentile(np.abs(radius - drawn), 95) <= 0.4


@pytest.mark.unit
def test_revolve_parameters_show_for_revolve_only() -> None:
    props = parameters_schema(get_engine("relief"))["properties"]
    assert "revolve" in props["mode"]["enum"]
    for name in (
        "hollow",
        "wall_mm",
        "bottom_mm",
        "min_diameter_mm",
        "axis_x",
        "profile_side",
        "when_not_round",
    ):
        assert props[name]["modes"] == ["revolve"], name
    assert props["wall_mm"]["default"] == 1.6 and props["wall_mm"]["unit"] == "mm"
    assert "revolve" in props["size_mm"]["modes"]
    with pytest.raises(InputRejected) as caught:
        validate_parameters(get_engine("relief"), {"mode": "revolve", "axis_x": 1.5})
    assert caught.value.field == "axis_x"


@pytest.fixture(scope="module")
def turned_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A pawn, a bottle and a hollow vase through the whole pipeline, written in every format."""
    out = tmp_path_factory.mktemp("revolve")
    made: dict[str, Any] = {}
    for name, params in (("pawn", {}), ("bottle", {}), ("vase", {"hollow": True})):
        model = orfeas.generate(png_bytes(getattr(rp, name)()), params={"mode": "revolve", **params})
        assert model.report["printable"], model.report["problems"]
        for fmt in exchange.FORMATS:
            model.save(out / f"{name}.{fmt}")
        made[name] = model
    made["folder"] = out
    return made


@pytest.mark.integration
def test_turned_models_survive_the_pipeline_and_every_format(turned_files: dict[str, Any]) -> None:
    folder = turned_files["folder"]
    for name in ("pawn", "bottle", "vase"):
        report = turned_files[name].report
        assert report["bodies"] == 1 and report["engine"]["mode"] == "revolve"
        x, y, z = report["bbox_mm"]
        assert z == pytest.approx(80.0, abs=1e-3) and y == pytest.approx(x, rel=0.02)
        assert report["engine"]["fidelity"]["silhouette_iou"] >= 0.95
        # The pipeline kept the engine's mesh (no simplification): the figures still hold for it.
        final = revolve_fidelity_of(turned_files[name])
        assert final["silhouette_iou"] == pytest.approx(
            report["engine"]["fidelity"]["silhouette_iou"], abs=1e-3
        )
        for fmt in exchange.FORMATS:
            mesh = exchange.load((folder / f"{name}.{fmt}").read_bytes(), fmt)
            assert check(mesh).ok and check(mesh).bodies == 1, (name, fmt)
    assert turned_files["vase"].report["engine"]["vessel"]["capacity_ml"] > 30


def revolve_fidelity_of(model: orfeas.Model) -> dict[str, Any]:
    """The engine's fidelity figures measured again on the pipeline's final mesh."""
    from orfeas.engines.relief.grid import find_mask
    from orfeas.engines.relief.profile import read_side_view
    from orfeas.engines.relief.revolve import RevolveIntent, revolve_fidelity

    assert model.source_rgba is not None
    found = find_mask(model.source_rgba, "revolve", "auto", None, Settings())
    assert found is not None
    view = read_side_view(found.mask)
    radius = (view.left + view.right) / 2
    intent = RevolveIntent(
        view.mask, view.axis, 80.0 / view.rows, radius, np.zeros(view.rows, bool), view.outside
    )
    return revolve_fidelity(model.mesh, intent)


@pytest.mark.integration
def test_prusaslicer_calls_turned_models_manifold_and_slices_them(
    turned_files: dict[str, Any], tmp_path: Path
) -> None:
    slicer = require_tool("prusa-slicer")
    folder = turned_files["folder"]
    paths = [str(folder / f"{name}.stl") for name in ("pawn", "bottle", "vase")]
    info = subprocess.run([slicer, "--info", *paths], capture_output=True, text=True, timeout=300, check=True)
    assert re.findall(r"^manifold = (\w+)", info.stdout, flags=re.MULTILINE) == ["yes"] * 3, info.stdout
    gcode = tmp_path / "vase.gcode"
    done = subprocess.run(
        [slicer, "--export-gcode", paths[2], "--output", str(gcode)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert gcode.stat().st_size > 10_000


@pytest.mark.integration
def test_khronos_validator_finds_no_errors_in_turned_glb(turned_files: dict[str, Any]) -> None:
    reports = gltf_validation(
        [str(turned_files["folder"] / f"{name}.glb") for name in ("pawn", "bottle", "vase")]
    )
    assert len(reports) == 3 and all(r["numErrors"] == 0 for r in reports), reports
