"""Every format writes, reloads and passes the same checks; STL and 3MF are reproducible."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import trimesh

from orfeas.mesh import exchange
from orfeas.mesh.verify import check


@pytest.fixture
def coloured_sphere() -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=15)
    sphere.apply_translation([0, 0, 15])
    sphere.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(sphere.vertices), 1))
    return sphere


@pytest.mark.unit
@pytest.mark.parametrize("fmt", exchange.FORMATS)
def test_each_format_reloads_and_verifies(coloured_sphere: trimesh.Trimesh, fmt: str) -> None:
    data = exchange.export(coloured_sphere, fmt)
    again = exchange.load(data, fmt)
    assert check(again).ok
    assert again.volume == pytest.approx(coloured_sphere.volume, rel=1e-4)
    assert again.extents == pytest.approx(coloured_sphere.extents, rel=1e-4)  # millimetres kept
    if fmt in ("obj", "glb", "ply"):
        assert np.all(again.visual.vertex_colors[:, 0] == 200)


@pytest.mark.unit
@pytest.mark.parametrize("fmt", exchange.FORMATS)
def test_exports_are_byte_identical(coloured_sphere: trimesh.Trimesh, fmt: str) -> None:
    assert exchange.export(coloured_sphere, fmt) == exchange.export(coloured_sphere.copy(), fmt)


@pytest.mark.unit
def test_glb_is_in_metres_and_3mf_in_millimetres(coloured_sphere: trimesh.Trimesh) -> None:
    scene = trimesh.load(io.BytesIO(exchange.export(coloured_sphere, "glb")), file_type="glb")
    assert scene.extents.max() == pytest.approx(0.03, rel=1e-3)
    model = zipfile.ZipFile(io.BytesIO(exchange.export(coloured_sphere, "3mf"))).read("3D/3dmodel.model")
    assert b'unit="millimeter"' in model


@pytest.mark.unit
def test_binary_stl_layout(coloured_sphere: trimesh.Trimesh) -> None:
    data = exchange.export(coloured_sphere, "stl")
    assert len(data) == 84 + 50 * len(coloured_sphere.faces)
    assert int.from_bytes(data[80:84], "little") == len(coloured_sphere.faces)


@pytest.mark.unit
def test_format_names(coloured_sphere: trimesh.Trimesh) -> None:
    assert exchange.format_from_path("a/b/Model.STL") == "stl"
    with pytest.raises(ValueError, match="unknown format"):
        exchange.format_from_path("model.dwg")
