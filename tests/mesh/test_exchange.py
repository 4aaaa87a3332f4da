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


@pytest.mark.unit
def test_glb_carries_the_picture_as_a_texture_laid_from_above() -> None:
    from orfeas.mesh.texture import PlanarTexture

    box = trimesh.creation.box((40, 20, 4))
    box.apply_translation([20, 10, 2])
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, :64] = (250, 0, 0)  # left half red, right half blue
    image[:, 64:] = (0, 0, 250)
    texture = PlanarTexture(image, (0.0, 0.0, 40.0, 20.0))
    data = exchange.export(box, "glb", texture=texture)
    scene = trimesh.load(io.BytesIO(data), file_type="glb")
    (mesh,) = scene.geometry.values()
    assert mesh.visual.kind == "texture" and mesh.visual.material.baseColorTexture.size == (128, 64)
    uv = mesh.visual.uv
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    # Left vertices (x < 20 mm, in metres after the glTF turn) map to the red half.
    left = mesh.vertices[:, 0] < 0.02
    assert np.all(uv[left, 0] <= 0.5) and np.all(uv[~left, 0] >= 0.5)
    again = exchange.load(data, "glb")
    assert check(again).ok and again.volume == pytest.approx(box.volume, rel=1e-4)


@pytest.mark.unit
def test_glb_keeps_vertex_colours_when_the_texture_is_not_sharper() -> None:
    from orfeas.mesh.texture import PlanarTexture

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=15)
    sphere.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(sphere.vertices), 1))
    tiny = PlanarTexture(np.zeros((4, 4, 3), np.uint8), (-15.0, -15.0, 15.0, 15.0))
    again = exchange.load(exchange.export(sphere, "glb", texture=tiny), "glb")
    assert np.all(again.visual.vertex_colors[:, 0] == 200)
