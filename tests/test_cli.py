"""The ``orfeas`` command, as a person types it (run in a real subprocess where exit codes matter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orfeas.cli import main
from orfeas.mesh import exchange
from orfeas.mesh.verify import check
from tests.conftest import ball_on_gravel, disc_rgba, edited_mask, png_bytes, silhouette_iou


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "disc.png"
    path.write_bytes(png_bytes(disc_rgba(96)))
    return path


def _orfeas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orfeas.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
def test_generate_several_formats_and_report(picture: Path, tmp_path: Path) -> None:
    stl, glb, report = tmp_path / "out.stl", tmp_path / "out.glb", tmp_path / "report.json"
    done = _orfeas(
        "generate",
        str(picture),
        "-o",
        str(stl),
        "-o",
        str(glb),
        "--mode",
        "relief",
        "--size-mm",
        "40",
        "--target-faces",
        "3000",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    assert (
        check(exchange.load(stl.read_bytes(), "stl")).ok and check(exchange.load(glb.read_bytes(), "glb")).ok
    )
    data = json.loads(report.read_text())
    assert data["bbox_mm"][0] == pytest.approx(40, abs=0.01) and data["parameters"]["mode"] == "relief"
    assert "watertight yes" in done.stdout


@pytest.mark.integration
def test_unusable_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    out = tmp_path / "out.stl"
    done = _orfeas("generate", str(fake), "-o", str(out))
    assert done.returncode == 2 and "not an image" in done.stderr and not out.exists()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate"], "either an INPUT"),
        (["generate", "x.png", "--text", "hi", "-o", "a.stl"], "either an INPUT"),
        (["generate", "--text", "hi"], "-o OUT.stl"),
        (["generate", "--text", "hi", "-o", "a.dwg"], "unknown format"),
        (["generate", "missing.png", "-o", "a.stl"], "no such file"),
        (["generate", "--text", "hi", "-o", "a.stl", "--param", "oops"], "KEY=VALUE"),
        (["generate", "--text", "hi", "-o", "a.stl", "--size-mm", "1"], "size_mm"),
        (["generate", ".", "-o", "out", "--mask-edit", "e.png"], "one picture, not a folder"),
        (["generate", "--text", "hi", "-o", "a.stl", "--mask-edit", "missing.png"], "no such file"),
    ],
)
def test_bad_arguments_exit_2_with_reason(
    args: list[str], message: str, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.unit
def test_text_and_param_flags(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sign.3mf"
    assert (
        main(
            [
                "generate",
                "--text",
                "HI",
                "-o",
                str(out),
                "--param",
                "target_faces=2000",
                "--border",
                "6",
                "-q",
            ]
        )
        == 0
    )
    assert check(exchange.load(out.read_bytes(), "3mf")).ok
    assert capsys.readouterr().out == ""


@pytest.mark.integration
def test_a_mask_edit_paints_part_of_the_subject_out(tmp_path: Path) -> None:
    rgba, truth = ball_on_gravel(256)
    edit = np.full(truth.shape, 128, np.uint8)
    edit[:, 150:] = 0  # the right part of the ball painted out, to the picture's edge
    photo, painted, out = tmp_path / "ball.png", tmp_path / "edit.png", tmp_path / "ball.stl"
    photo.write_bytes(png_bytes(rgba))
    painted.write_bytes(png_bytes(edit))
    done = _orfeas(
        "generate", str(photo), "--mask-edit", str(painted), "-o", str(out), "--target-faces", "4000"
    )
    assert done.returncode == 0, done.stderr
    model = exchange.load(out.read_bytes(), "stl")
    assert silhouette_iou(model, edited_mask(truth, edit)) >= 0.95
    wrong = tmp_path / "wrong.png"
    wrong.write_bytes(png_bytes(np.zeros((64, 128), np.uint8)))
    refused = _orfeas("generate", str(photo), "--mask-edit", str(wrong), "-o", str(tmp_path / "no.stl"))
    assert refused.returncode == 2 and "mask edit is 128 × 64" in refused.stderr
    assert not (tmp_path / "no.stl").exists()


@pytest.mark.unit
def test_batch_over_a_folder(tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(2):
        (source / f"p{i}.png").write_bytes(png_bytes(disc_rgba(64 + 16 * i)))
    (source / "broken.png").write_bytes(b"nope")
    (source / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            str(source),
            "-o",
            str(out),
            "--format",
            "stl,glb",
            "--target-faces",
            "2000",
            "--report",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 2  # one picture was unusable; the others were still made
    assert sorted(p.name for p in out.iterdir()) == ["p0.glb", "p0.stl", "p1.glb", "p1.stl"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["broken.png"]["error"]["code"] == "unsupported_type"
    assert "2 of 3 images" in capsys.readouterr().out


@pytest.mark.unit
def test_engines_lists_relief_with_parameters(capsys) -> None:
    assert main(["engines", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "relief" and rows[0]["available"] is True
    assert "mode" in rows[0]["parameters"]["properties"]
    assert main(["engines"]) == 0
    assert "--size-mm" in capsys.readouterr().out


@pytest.mark.integration
def test_output_closed_early_ends_quietly() -> None:
    """``orfeas engines | head -1``: the reader goes away; no traceback, exit code 1."""
    command = [sys.executable, "-m", "orfeas.cli", "engines", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # before the command (still importing) writes anything
        stderr = process.stderr.read().decode()
        assert process.wait(60) == 1
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.integration
def test_text_new_lines_typed_as_backslash_n(tmp_path: Path) -> None:
    shapes = {}
    for name, text in (("one", "AB CD"), ("two", "AB\\nCD")):  # what the shell hands over for "AB\nCD"
        report = tmp_path / f"{name}.json"
        done = _orfeas(
            "generate", "--text", text, "-o", str(tmp_path / f"{name}.stl"), "--report", str(report)
        )
        assert done.returncode == 0, done.stderr
        x, y, _ = json.loads(report.read_text())["bbox_mm"]
        shapes[name] = y / x
    assert shapes["two"] > 2 * shapes["one"]  # two lines, not one line with an "n" in it


@pytest.mark.unit
def test_summary_says_how_alike_and_when_a_model_is_in_pieces(tmp_path: Path, capsys) -> None:
    import cv2
    import numpy as np

    image = np.zeros((160, 160, 4), np.uint8)
    cv2.circle(image, (45, 80), 30, (200, 40, 40, 255), -1)
    cv2.circle(image, (120, 80), 25, (40, 40, 200, 255), -1)
    path = tmp_path / "parts.png"
    path.write_bytes(png_bytes(image))
    assert main(["generate", str(path), "-o", str(tmp_path / "a.stl"), "--target-faces", "4000"]) == 0
    joined = capsys.readouterr().out
    assert "looks like the picture: silhouette" in joined and "separate pieces" not in joined
    assert (
        main(
            [
                "generate",
                str(path),
                "-o",
                str(tmp_path / "b.stl"),
                "--target-faces",
                "4000",
                "--separate-parts",
            ]
        )
        == 0
    )
    assert "2 separate pieces: it will fall apart when printed" in capsys.readouterr().out


@pytest.mark.integration
def test_a_colour_keychain_prints_its_palette_and_writes_a_zip_of_stls(tmp_path: Path, capsys) -> None:
    from tests.pictures import logo_badge

    path = tmp_path / "logo.png"
    path.write_bytes(logo_badge())
    out = [tmp_path / "key.3mf", tmp_path / "key.stl.zip"]
    args = ["generate", str(path), "--mode", "keychain", "--param", "colors=3"]
    assert main([*args, "-o", str(out[0]), "-o", str(out[1])]) == 0
    printed = capsys.readouterr().out
    assert "3 colours, one extruder each:" in printed
    lines = [line.split() for line in printed.splitlines() if line.strip().startswith("T")]
    assert [line[0] for line in lines] == ["T0", "T1", "T2"]
    assert all(line[1].startswith("#") and len(line[1]) == 7 for line in lines)
    assert all(" g / " in " ".join(line) and line[-1] == "m" for line in lines)
    import zipfile

    with zipfile.ZipFile(out[1]) as archive:
        assert len([n for n in archive.namelist() if n.endswith(".stl")]) == 3
    assert check(exchange.load(out[0].read_bytes(), "3mf")).bodies == 1
