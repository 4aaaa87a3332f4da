"""Every picture makers bring (tests/pictures.py), through puffy, relief and extrude: the model
looks like the picture (silhouette, deviation, stray area), is one piece, PrusaSlicer takes the
STL without repairing anything, and the Khronos validator finds no error in the GLB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from tests.conftest import gltf_validation, slicer_problems
from tests.pictures import PICTURES, TEXTS, make_model

MODES = ("puffy", "relief", "extrude")
#: The figures every model of the corpus must reach.
MAX_STRAY_SHARE = 0.01
MIN_IOU = 0.98


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path]]:
    """name--mode → (report, folder with model.stl and model.glb)."""
    out = tmp_path_factory.mktemp("pictures")
    made = {}
    for name in [*PICTURES, *TEXTS]:
        for mode in MODES:
            model = make_model(name, {"mode": mode, "size_mm": 60})
            folder = out / f"{name}--{mode}"
            model.save(folder / "model.stl")
            model.save(folder / "model.glb")
            made[f"{name}--{mode}"] = (model.report, folder)
    return made


@pytest.mark.integration
def test_every_model_looks_like_its_picture(corpus: dict[str, tuple[dict[str, Any], Path]]) -> None:
    failures = []
    for key, (report, _) in corpus.items():
        fidelity = report["fidelity"]
        deviation = fidelity["deviation_mm"]
        worst = max(deviation["mesh_to_intent"]["max"], deviation["intent_to_mesh"]["max"])
        if not (
            fidelity["stray_share"] <= MAX_STRAY_SHARE
            and fidelity["silhouette_iou"] >= MIN_IOU
            and worst <= fidelity["bound_mm"]
            and fidelity["within_bound"]
        ):
            failures.append((key, fidelity))
    assert not failures, failures


@pytest.mark.integration
def test_every_model_is_one_piece(corpus: dict[str, tuple[dict[str, Any], Path]]) -> None:
    loose = {key: report["loose_parts"] for key, (report, _) in corpus.items() if report["bodies"] != 1}
    assert not loose
    joined = {
        key: report["engine"].get("joined_by")
        for key, (report, _) in corpus.items()
        if key.startswith("separate-parts")
    }
    assert joined == {
        "separate-parts--puffy": "3 bridges",
        "separate-parts--relief": "the plate",
        "separate-parts--extrude": "the plate",
    }


@pytest.mark.integration
def test_extruded_models_are_crisp_and_light(corpus: dict[str, tuple[dict[str, Any], Path]]) -> None:
    for key, (report, folder) in corpus.items():
        if not key.endswith("--extrude"):
            continue
        assert report["faces"] < 8_000, key
        mesh = exchange.load((folder / "model.stl").read_bytes(), "stl")
        heights = set(mesh.vertices[:, 2].round(6))
        params = report["parameters"]  # a name plate's letters are lower (the text rule)
        tops = {0.0, params["base_mm"], params["base_mm"] + params["depth_mm"]}
        assert heights == tops, (key, sorted(heights)[:8])  # bed, plate top, letter tops


@pytest.mark.integration
def test_files_reload_and_prusaslicer_repairs_nothing(corpus: dict[str, tuple[dict[str, Any], Path]]) -> None:
    for key, (_, folder) in corpus.items():
        for fmt in ("stl", "glb"):
            assert check(exchange.load((folder / f"model.{fmt}").read_bytes(), fmt)).ok, (key, fmt)
    assert not slicer_problems([folder / "model.stl" for _, folder in corpus.values()])


@pytest.mark.integration
def test_khronos_validator_finds_no_errors_in_textured_glb(
    corpus: dict[str, tuple[dict[str, Any], Path]],
) -> None:
    paths = [folder / "model.glb" for _, folder in corpus.values()]
    reports = gltf_validation(paths)
    assert len(reports) == len(paths)
    assert all(r["numErrors"] == 0 for r in reports), [r for r in reports if r["numErrors"]]
    textured = [p for p in paths if b"image/png" in p.read_bytes()[:200_000]]
    assert len(textured) >= len(paths) // 2  # most carry the picture as a texture
