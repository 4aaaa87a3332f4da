"""orfeas.files: atomic writes."""

from __future__ import annotations

import pytest

from orfeas.files import write_atomic


@pytest.mark.unit
def test_atomic_write_leaves_only_the_file(tmp_path) -> None:
    target = tmp_path / "sub" / "model.stl"
    write_atomic(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert [p.name for p in target.parent.iterdir()] == ["model.stl"]  # no temporary left behind


@pytest.mark.unit
def test_a_failed_write_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "model.stl"
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
