"""``stamp``: the design mirrored, raised on a block, with a knob that prints without supports; lines
narrower than ``min_line_mm`` thickened (and said so); one piece, PrusaSlicer clean."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orfeas.engines import get_engine
from orfeas.engines.base import EngineInput, validate_parameters
from orfeas.mesh.fidelity import deviation_bound_mm, measure
from orfeas.mesh.raster import PixelGrid, height_map
from orfeas.mesh.verify import check
from orfeas.settings import Settings
from tests.conftest import manifold_of, slicer_problems


def _run(rgba: np.ndarray, **params: object):
    engine = get_engine("relief")
    checked = validate_parameters(engine, {"mode": "stamp", **params})
    return engine.generate(EngineInput(rgba=rgba), checked, Settings())


def _letter_f(size: int = 300) -> np.ndarray:
    """An F: nothing like itself mirrored."""
    image = np.zeros((size, size, 4), np.uint8)
    ink = (20, 20, 20, 255)
    cv2.rectangle(image, (60, 30), (120, 270), ink, -1)
    cv2.rectangle(image, (60, 30), (250, 85), ink, -1)
    cv2.rectangle(image, (60, 130), (200, 180), ink, -1)
    return image


def _raised_face(out, block_top: float) -> np.ndarray:
    """What stands above the block, seen from above, on the picture's own frame (the design's box)."""
    mesh = out.mesh
    top = mesh.vertices[mesh.vertices[:, 2] > block_top + 0.5]
    low, high = top[:, :2].min(axis=0), top[:, :2].max(axis=0)
    grid = PixelGrid.around(low, high, 0.1)
    seen = height_map(mesh.vertices, mesh.faces, grid)
    return seen.covered & (seen.height > block_top + 0.1)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


@pytest.mark.unit
def test_the_design_is_mirrored_on_the_block(tmp_path) -> None:
    picture = _letter_f()
    out = _run(picture, size_mm=40)
    result = check(out.mesh)
    assert result.ok and result.bodies == 1 and result.euler_number == 2
    assert out.notes["mirrored"] is True and "thickened" not in out.notes
    block_top = out.mesh.bounds[1, 2] - 1.5
    face = _raised_face(out, block_top)
    # The picture's F cropped to its ink, on the face's grid: the face is it flipped left to right.
    ink = picture[..., 3] > 127
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.uint8)
    meant = cv2.resize(crop, face.shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    assert _iou(face, meant[:, ::-1]) > 0.95
    assert _iou(face, meant) < 0.7
    # As built: what was meant holds (a mirrored intent, the block as the plate).
    bound = deviation_bound_mm(out.intent)
    fidelity = measure(out.mesh.vertices, out.mesh.faces, out.intent, bound)
    assert fidelity.silhouette_iou > 0.99 and fidelity.within_bound and fidelity.stray_share == 0
    out.mesh.export(tmp_path / "stamp.stl")
    assert not slicer_problems([tmp_path / "stamp.stl"])


@pytest.mark.unit
def test_the_knob_prints_without_supports() -> None:
    out = _run(_letter_f(), size_mm=50)
    mesh = out.mesh
    assert out.notes["grip_mm"] > 12
    # Nothing faces down more steeply than 45° except what stands on the bed.
    normals, centres = mesh.face_normals, mesh.triangles_center
    overhang = (normals[:, 2] < -np.cos(np.radians(45)) - 1e-3) & (centres[:, 2] > 1e-3)
    assert mesh.area_faces[overhang].sum() < 0.01
    # The knob is narrower than the block, and a flat back is a block on the bed.
    cut = manifold_of(mesh).slice(6.0)
    assert cut.area() < 0.5 * manifold_of(mesh).project().area()
    flat = _run(_letter_f(), size_mm=50, grip="none")
    assert flat.mesh.bounds[1, 2] == pytest.approx(5.0 + 1.5)
    assert check(flat.mesh).bodies == 1


@pytest.mark.unit
def test_lines_too_thin_to_print_are_thickened_and_reported() -> None:
    image = np.zeros((400, 400, 4), np.uint8)
    cv2.rectangle(image, (40, 40), (360, 120), (0, 0, 0, 255), -1)  # a wide bar: left alone
    cv2.rectangle(image, (40, 250), (360, 254), (0, 0, 0, 255), -1)  # 5 px: 0.56 mm at 40 mm
    out = _run(image, size_mm=40, min_line_mm=1.0)
    assert out.notes["thickened"]["min_line_mm"] == 1.0
    assert "thickened to 1 mm" in out.notes["warnings"][0]
    assert "thickened" not in _run(image, size_mm=40, min_line_mm=0.4).notes
    # Cut through the raised design: the thin line is now at least 1 mm wide, the bar as it was.
    top = out.mesh.bounds[1, 2]
    cut = manifold_of(out.mesh).slice(top - 0.5)
    pieces = sorted(cut.decompose(), key=lambda piece: piece.area())
    assert len(pieces) == 2
    line, bar = (np.asarray(piece.bounds()) for piece in pieces)
    assert line[3] - line[1] >= 1.0 - 0.02 and line[3] - line[1] < 1.25
    scale = (bar[2] - bar[0]) / 321
    assert bar[3] - bar[1] == pytest.approx(81 * scale, abs=0.05)
    assert check(out.mesh).bodies == 1
