"""Fixtures shared by every test package: synthetic pictures, settings on a temporary data dir,
and the rule that a missing external tool fails the run in CI instead of skipping quietly."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import manifold3d
import numpy as np
import pytest
import trimesh
from PIL import Image

from orfeas.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# In-process apps are called as http://testserver (Starlette's TestClient), live ones on loopback:
# the hosts the tests' services answer to (the default is the bind address and localhost).
os.environ.setdefault("ORFEAS_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1,::1")
#: The repository's models directory (`make test` places u2netp.onnx there); every Settings() the
#: tests make finds it, whatever the working directory, unless ORFEAS_MODELS_DIR says otherwise.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
os.environ.setdefault("ORFEAS_MODELS_DIR", str(MODELS_DIR))
OUTPUT_DIR = Path(__file__).parent / "output"
GLTF_VALIDATOR = Path(__file__).parents[1] / "tools" / "gltf-validator"


def require(condition: bool, why: str) -> None:
    """Skip a test whose tool or service is missing, except in CI, where it is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {why} (the set-up in `make test` should have installed it)")
    pytest.skip(why)


def require_tool(name: str) -> str:
    """The path of an executable, or skip/fail as :func:`require` does."""
    path = shutil.which(name)
    require(path is not None, f"`{name}` is not installed")
    assert path is not None
    return path


def gltf_validation(paths: list[Path] | list[str]) -> list[dict]:
    """The Khronos glTF validator's report for each GLB (one dict per file: path, numErrors,
    numWarnings, errors); skips (fails in CI) when node or the validator is missing."""

    node = require_tool("node")
    require(
        (GLTF_VALIDATOR / "node_modules" / "gltf-validator").is_dir(),
        "the glTF validator is not installed (make test runs npm ci in tools/gltf-validator)",
    )
    done = subprocess.run(
        [node, str(GLTF_VALIDATOR / "validate.mjs"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


#: What PrusaSlicer's ``--info`` prints after a model's name when it had to repair something.
SLICER_REPAIR_KEYS = (
    "open_edges",
    "facets_reversed",
    "backwards_edges",
    "edges_fixed",
    "degenerate_facets",
    "facets_removed",
    "facets_added",
)


def slicer_problems(paths: list[Path] | list[str], parts: int = 1) -> dict[str, str]:
    """The files PrusaSlicer does not take as they are — not manifold, not ``parts`` part(s), or
    repaired on loading — each with its ``--info`` block (empty when all are clean); skips (fails in
    CI) without prusa-slicer."""
    slicer = require_tool("prusa-slicer")
    paths = [str(p) for p in paths]
    info = subprocess.run([slicer, "--info", *paths], capture_output=True, text=True, timeout=600, check=True)
    blocks = re.split(r"^\[.*\]$", info.stdout, flags=re.MULTILINE)[1:]
    assert len(blocks) == len(paths), info.stdout[-2000:]
    problems = {}
    for path, block in zip(paths, blocks, strict=True):
        clean = "manifold = yes" in block and re.search(rf"number_of_parts =\s+{parts}\n", block)
        if not clean or any(f"{key} =" in block for key in SLICER_REPAIR_KEYS):
            problems[path] = block
    return problems


def sliced(path: Path | str, gcode: Path, *options: str) -> bytes:
    """The G-code PrusaSlicer makes of a model with its default profile (and ``options``)."""
    slicer = require_tool("prusa-slicer")
    done = subprocess.run(
        [slicer, "--export-gcode", str(path), "--output", str(gcode), *options],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return gcode.read_bytes()


def manifold_of(mesh: trimesh.Trimesh) -> manifold3d.Manifold:
    """A closed mesh as a manifold3d solid (to cut it, cast rays at it, see it from above)."""
    return manifold3d.Manifold(
        manifold3d.Mesh(
            vert_properties=np.ascontiguousarray(mesh.vertices, dtype=np.float32),
            tri_verts=np.ascontiguousarray(mesh.faces, dtype=np.uint32),
        )
    )


def signed_area(loop: np.ndarray) -> float:
    """The area of a closed (n, 2) loop, positive counter-clockwise."""
    return 0.5 * float(np.sum(loop[:, 0] * np.roll(loop[:, 1], -1) - np.roll(loop[:, 0], -1) * loop[:, 1]))


def holes_seen_from_above(mesh: trimesh.Trimesh) -> list[np.ndarray]:
    """The holes right through a model: the clockwise loops of its silhouette seen from above."""
    seen = manifold3d.CrossSection(manifold_of(mesh).project().to_polygons(), manifold3d.FillRule.Positive)
    return [p for p in (np.asarray(q) for q in seen.to_polygons()) if signed_area(p) < 0]


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims ``width`` × ``height`` pixels (a bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def disc_rgba(size: int = 256, colour: tuple[int, int, int] = (200, 60, 40)) -> np.ndarray:
    """A filled disc on a transparent background."""
    image = np.zeros((size, size, 4), np.uint8)
    cv2.circle(image, (size // 2, size // 2), int(size * 0.4), (*colour, 255), -1)
    return image


def drawing_on_white(size: int = 256) -> np.ndarray:
    """A child's-drawing-like picture: thick dark strokes and a filled shape on white paper."""
    image = np.full((size, int(size * 1.25), 3), 250, np.uint8)
    s = size / 256
    cv2.ellipse(
        image, (int(160 * s), int(128 * s)), (int(90 * s), int(60 * s)), 15, 0, 360, (30, 90, 200), -1
    )
    cv2.circle(image, (int(200 * s), int(110 * s)), int(12 * s), (20, 20, 20), -1)
    cv2.line(
        image, (int(80 * s), int(170 * s)), (int(240 * s), int(200 * s)), (20, 20, 20), max(2, int(6 * s))
    )
    return image


def photo_like(size: int = 256, seed: int = 0) -> np.ndarray:
    """A noisy, busy, photo-like RGB picture (smooth gradients, texture and noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([120 + 80 * x, 100 + 60 * np.sin(6 * y), 90 + 70 * x * y], axis=-1)
    blobs = cv2.GaussianBlur(rng.normal(0, 40, (size, size, 3)), (0, 0), size / 30)
    noise = rng.normal(0, 12, (size, size, 3))
    image = np.clip(base + blobs + noise, 0, 255).astype(np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 4, (230, 200, 160), -1)
    return image


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private data directory and small limits that tests can reach."""
    return Settings(data_dir=tmp_path / "data", workers=2, queue_size=8)


@pytest.fixture
def disc_png() -> bytes:
    return png_bytes(disc_rgba())


@pytest.fixture
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    return png_bytes
