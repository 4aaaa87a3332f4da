"""The mesh doctor: hostile files are typed rejections; broken meshes come out printable with
the right volume, and PrusaSlicer agrees they are manifold."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import trimesh

from orfeas.cli import main
from orfeas.errors import InputRejected, MeshInvalid
from orfeas.mesh import exchange
from orfeas.mesh.doctor import RepairOptions, analyze, lay_flat, repair
from orfeas.mesh.exchange.untrusted import read_model, sniff_model_format
from orfeas.mesh.verify import check
from tests.conftest import require_tool
from tests.mesh.corpus import CAPS, HOSTILE_MESHES, binary_stl, box, broken_corpus


@pytest.mark.unit
@pytest.mark.parametrize("name", list(broken_corpus()))
def test_repair_makes_each_broken_mesh_printable_with_the_right_volume(name: str) -> None:
    mesh, options, volume_cm3 = broken_corpus()[name]
    if name not in ("inches", "overlapping-bodies"):  # those two pass the checks but are wrong in size
        assert not check(mesh).ok
    result = repair(mesh, options)
    assert check(result.mesh).ok
    assert result.report["volume_cm3"] == pytest.approx(volume_cm3, rel=0.01)
    assert result.changes


@pytest.mark.integration
def test_prusaslicer_calls_every_repaired_mesh_manifold(tmp_path: Path) -> None:
    slicer = require_tool("prusa-slicer")
    paths = []
    for name, (mesh, options, _) in broken_corpus().items():
        path = tmp_path / f"{name}.stl"
        path.write_bytes(exchange.export(repair(mesh, options).mesh, "stl"))
        paths.append(str(path))
    info = subprocess.run([slicer, "--info", *paths], capture_output=True, text=True, timeout=300, check=True)
    assert re.findall(r"^manifold = (\w+)", info.stdout, flags=re.MULTILINE) == ["yes"] * len(paths)
    volumes = [float(v) for v in re.findall(r"^volume = ([\d.]+)", info.stdout, flags=re.MULTILINE)]
    expected = [v * 1000 for _, _, v in broken_corpus().values()]
    assert volumes == pytest.approx(expected, rel=0.01)


@pytest.mark.unit
def test_repair_refuses_to_lose_volume_silently() -> None:
    big, part, speck = box(), box((3, 3, 3), at=(40, 0, 0)), box((1, 1, 1), at=(0, 40, 0))
    result = repair(trimesh.util.concatenate([big, part, speck]), RepairOptions(max_volume_loss=0.02))
    assert result.report["volume_cm3"] == pytest.approx(8.027, rel=1e-4)  # a 0.3 % part stays, the speck goes
    assert any("dropped 1 floating fragments" in c for c in result.changes)
    with pytest.raises(MeshInvalid, match="remove"):
        repair(trimesh.util.concatenate([big, speck]), RepairOptions(max_volume_loss=0.0))
    sheet = trimesh.Trimesh(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], [[0, 1, 2], [1, 3, 2]], process=False
    )
    with pytest.raises(MeshInvalid):
        repair(sheet)


@pytest.mark.unit
def test_repair_options_size_faces_and_lay_flat() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=7)
    result = repair(sphere, RepairOptions(size_mm=50, target_faces=1000))
    assert max(result.mesh.extents) == pytest.approx(50, rel=0.01) and len(result.mesh.faces) <= 1050
    tilted = box((30, 20, 4))
    tilted.apply_transform(trimesh.transformations.rotation_matrix(1.0, [1, 1, 0]))
    flat = lay_flat(tilted)
    assert flat.extents[2] == pytest.approx(4, abs=0.01) and flat.bounds[0, 2] == pytest.approx(0)
    assert analyze(box())["printable"]


@pytest.mark.security
@pytest.mark.parametrize("name", list(HOSTILE_MESHES))
def test_hostile_mesh_files_are_typed_rejections(name: str) -> None:
    data, code = HOSTILE_MESHES[name]
    with pytest.raises(InputRejected) as caught:
        read_model(data, **CAPS)
    assert caught.value.code == code, caught.value.message


@pytest.mark.security
def test_zip_bomb_3mf_is_rejected_before_expanding() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", b"<" + b" " * 120_000_000)
    with pytest.raises(InputRejected) as caught:
        read_model(buffer.getvalue(), **CAPS)
    assert caught.value.code == "too_large"


@pytest.mark.unit
@pytest.mark.parametrize("fmt", exchange.FORMATS)
def test_every_format_is_sniffed_and_read(fmt: str) -> None:
    data = exchange.export(box(), fmt)
    assert sniff_model_format(data) == fmt
    mesh, facts = read_model(data, **CAPS)
    assert facts["format"] == fmt and len(mesh.faces) == 12


@pytest.mark.integration
def test_cli_repair_and_analyze(tmp_path: Path, capsys) -> None:
    cube = box()
    broken = tmp_path / "broken.obj"
    broken.write_bytes(exchange.export(trimesh.Trimesh(cube.vertices, cube.faces[:-1], process=False), "obj"))
    fixed = tmp_path / "fixed.stl"
    assert (
        main(["repair", str(broken), "-o", str(fixed), "--lay-flat", "--report", str(tmp_path / "r.json")])
        == 0
    )
    assert check(exchange.load(fixed.read_bytes(), "stl")).ok
    assert "filled holes" in capsys.readouterr().out
    assert main(["analyze", str(broken)]) == 0
    assert '"watertight": false' in capsys.readouterr().out
    (tmp_path / "fake.stl").write_bytes(binary_stl(99, 1))
    assert main(["repair", str(tmp_path / "fake.stl"), "-o", str(tmp_path / "x.stl")]) == 2
    assert not (tmp_path / "x.stl").exists()
