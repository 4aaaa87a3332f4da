"""The maker objects on every picture makers bring (tests/pictures.py) and on text: each model looks
like what was meant (silhouette, deviation, stray area), is one piece, PrusaSlicer takes the STL
without repairing anything and slices it, and the Khronos validator finds no error in the GLB —
and each object is what it claims: a keychain has a hole through it at its loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import orfeas
from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from tests.conftest import gltf_validation, holes_seen_from_above, sliced, slicer_problems
from tests.pictures import PICTURES, TEXTS, make_model

MODES = ("keychain",)
#: The figures every model of the corpus must reach (as the fidelity corpus asks of extrude).
MAX_STRAY_SHARE = 0.01
MIN_IOU = 0.98


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[orfeas.Model, Path]]:
    """name--mode → (model, folder with model.stl and model.glb)."""
    out = tmp_path_factory.mktemp("makers")
    models = {}
    for name in [*PICTURES, *TEXTS]:
        for mode in MODES:
            model = make_model(name, {"mode": mode, "size_mm": 60})
            folder = out / f"{name}--{mode}"
            model.save(folder / "model.stl")
            model.save(folder / "model.glb")
            models[f"{name}--{mode}"] = (model, folder)
    return models


@pytest.mark.integration
def test_every_maker_object_looks_like_what_was_meant(made: dict[str, tuple[orfeas.Model, Path]]) -> None:
    failures = {}
    for key, (model, _) in made.items():
        fidelity = model.report["fidelity"]
        if not (
            fidelity["stray_share"] <= MAX_STRAY_SHARE
            and fidelity["silhouette_iou"] >= MIN_IOU
            and fidelity["within_bound"]
        ):
            failures[key] = fidelity
    assert not failures, failures


@pytest.mark.integration
def test_every_maker_object_is_one_piece(made: dict[str, tuple[orfeas.Model, Path]]) -> None:
    loose = {key: model.report["bodies"] for key, (model, _) in made.items() if model.report["bodies"] != 1}
    assert not loose


@pytest.mark.integration
def test_every_keychain_hangs_from_a_hole_through_it(made: dict[str, tuple[orfeas.Model, Path]]) -> None:
    for key, (model, _) in made.items():
        if not key.endswith("--keychain"):
            continue
        loop = model.report["engine"]["loop"]
        holes = holes_seen_from_above(model.mesh)
        # The genus is the number of holes right through it, the loop's among them.
        assert 1 - model.report["euler_number"] // 2 == len(holes) >= 1, key
        centre = model.mesh.bounds[0, :2] + loop["centre_mm"]
        at_loop = [h for h in holes if np.linalg.norm(h.mean(axis=0) - centre) < 0.5]
        assert len(at_loop) == 1, key
        radii = np.linalg.norm(at_loop[0] - centre, axis=1)
        assert radii.min() >= 2.0 - 0.01 and loop["hole_mm"] >= 4, (key, radii.min())
        assert max(model.report["bbox_mm"][:2]) == pytest.approx(60, abs=0.05), key


@pytest.mark.integration
def test_files_reload_and_prusaslicer_repairs_nothing(
    made: dict[str, tuple[orfeas.Model, Path]], tmp_path: Path
) -> None:
    for key, (_, folder) in made.items():
        for fmt in ("stl", "glb"):
            assert check(exchange.load((folder / f"model.{fmt}").read_bytes(), fmt)).ok, (key, fmt)
    assert not slicer_problems([folder / "model.stl" for _, folder in made.values()])
    for mode in MODES:  # and it slices
        gcode = sliced(made[f"logo-badge--{mode}"][1] / "model.stl", tmp_path / f"{mode}.gcode")
        assert len(gcode) > 10_000 and b"G1 " in gcode[:200_000], mode


@pytest.mark.integration
def test_khronos_validator_finds_no_errors(made: dict[str, tuple[orfeas.Model, Path]]) -> None:
    paths = [folder / "model.glb" for _, folder in made.values()]
    reports = gltf_validation(paths)
    assert len(reports) == len(paths)
    assert all(r["numErrors"] == 0 for r in reports), [r for r in reports if r["numErrors"]]
