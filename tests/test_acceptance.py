"""Acceptance of the generation core with outside tools: a corpus the tests make themselves plus
scikit-image's sample photos, through every mode; every file reloads and verifies, PrusaSlicer
calls the STL manifold and slices it, and the Khronos validator finds no error in the GLB."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import skimage.data

import orfeas
from orfeas.imaging import LetteringOptions, render_text
from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import disc_rgba, drawing_on_white, gltf_validation, photo_like, png_bytes, require_tool

MODES = ("puffy", "relief", "extrude", "lithophane", "heightmap")

DEFAULTS = Settings()


def _opaque(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        rgb = np.dstack([rgb] * 3)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _star_with_alpha(size: int = 220) -> np.ndarray:
    import cv2

    image = np.zeros((size, size, 4), np.uint8)
    angles = np.linspace(0, 2 * np.pi, 11)[:-1] - np.pi / 2
    radii = np.where(np.arange(10) % 2 == 0, size * 0.45, size * 0.2)
    points = np.column_stack([size / 2 + radii * np.cos(angles), size / 2 + radii * np.sin(angles)])
    cv2.fillPoly(image, [points.astype(np.int32)], (240, 200, 20, 255))
    cv2.circle(image, (size // 2, size // 2), size // 12, (0, 0, 0, 0), -1)  # a hole through it
    return image


CORPUS = {
    "disc-alpha": lambda: disc_rgba(200),
    "star-with-hole-alpha": _star_with_alpha,
    "drawing-on-white": lambda: _opaque(drawing_on_white(200)),
    "lettering": lambda: render_text("ORFEAS\n3D", LetteringOptions(), DEFAULTS),
    "photo-like-noisy": lambda: _opaque(photo_like(220)),
    "skimage-astronaut": lambda: _opaque(skimage.data.astronaut()),
    "skimage-coffee": lambda: _opaque(skimage.data.coffee()),
    "skimage-camera": lambda: _opaque(skimage.data.camera()),
    "skimage-chelsea": lambda: _opaque(skimage.data.chelsea()),
}


@pytest.fixture(scope="module")
def corpus_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every corpus picture through every mode, written in every format; name → folder."""
    out = tmp_path_factory.mktemp("corpus")
    written: dict[str, Path] = {}
    for name, make in CORPUS.items():
        picture = png_bytes(make())
        for mode in MODES:
            model = orfeas.generate(picture, params={"mode": mode, "target_faces": 20_000, "size_mm": 60})
            assert model.report["printable"], (name, mode, model.report["problems"])
            folder = out / f"{name}--{mode}"
            for fmt in exchange.FORMATS:
                model.save(folder / f"model.{fmt}")
            written[f"{name}--{mode}"] = folder
    return written


@pytest.mark.integration
def test_every_file_reloads_and_verifies(corpus_models: dict[str, Path]) -> None:
    for key, folder in corpus_models.items():
        for fmt in exchange.FORMATS:
            mesh = exchange.load((folder / f"model.{fmt}").read_bytes(), fmt)
            result = check(mesh)
            assert result.ok, (key, fmt, result.problems())


@pytest.mark.integration
def test_prusaslicer_calls_every_stl_manifold(corpus_models: dict[str, Path]) -> None:
    slicer = require_tool("prusa-slicer")
    paths = [str(folder / "model.stl") for folder in corpus_models.values()]
    info = subprocess.run([slicer, "--info", *paths], capture_output=True, text=True, timeout=300, check=True)
    verdicts = re.findall(r"^manifold = (\w+)", info.stdout, flags=re.MULTILINE)
    assert verdicts == ["yes"] * len(paths), info.stdout[-2000:]


@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_prusaslicer_slices_each_mode(corpus_models: dict[str, Path], mode: str, tmp_path: Path) -> None:
    slicer = require_tool("prusa-slicer")
    stl = corpus_models[f"star-with-hole-alpha--{mode}"] / "model.stl"
    gcode = tmp_path / "model.gcode"
    done = subprocess.run(
        [slicer, "--export-gcode", str(stl), "--output", str(gcode)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert gcode.stat().st_size > 10_000 and b"G1 " in gcode.read_bytes()[:200_000]


@pytest.mark.integration
def test_khronos_validator_finds_no_errors_in_glb(corpus_models: dict[str, Path]) -> None:
    paths = [folder / "model.glb" for folder in corpus_models.values()]
    reports = gltf_validation(paths)
    assert len(reports) == len(paths)
    assert all(r["numErrors"] == 0 for r in reports), [r for r in reports if r["numErrors"]]
