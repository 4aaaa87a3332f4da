"""Job files in a directory: the interface the store, runners and routes use (JobFiles)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from orfeas.jobs.files import DirectoryFiles, JobFiles, job_files

pytestmark = pytest.mark.unit


def test_a_directory_is_job_files(tmp_path: Path) -> None:
    files = job_files(tmp_path / "jobs")
    assert isinstance(files, JobFiles) and isinstance(files, DirectoryFiles)
    files.write("a", "model.stl", b"solid")
    assert files.read("a", "model.stl") == b"solid"
    assert files.names("a") == ["model.stl"] and files.names("nobody") == []
    assert files.local_path("a", "model.stl") == tmp_path / "jobs" / "a" / "model.stl"
    assert files.local_path("a", "model.glb") is None
    with pytest.raises(FileNotFoundError):
        files.read("a", "model.glb")
    assert set(files.jobs()) == {"a"}
    files.remove("a", "model.stl")
    files.remove("a", "model.stl")  # absent: nothing happens
    assert files.names("a") == []
    files.remove_job("a")
    assert files.jobs() == {}


def test_shared_files_outlive_their_source(tmp_path: Path) -> None:
    files = DirectoryFiles(tmp_path)
    files.write("a", "model.glb", b"glb bytes")
    files.share("a", "b", "model.glb")
    files.share("a", "b", "model.glb")  # again: replaced, not an error
    assert (tmp_path / "a" / "model.glb").stat().st_ino == (tmp_path / "b" / "model.glb").stat().st_ino
    files.remove_job("a")
    assert files.read("b", "model.glb") == b"glb bytes"


def test_writes_are_atomic_and_leave_no_temporary_file(tmp_path: Path) -> None:
    files = DirectoryFiles(tmp_path)
    files.write("a", "model.stl", b"one")
    files.write("a", "model.stl", b"two")
    assert files.names("a") == ["model.stl"] and files.read("a", "model.stl") == b"two"


def test_job_files_travel_to_runner_processes(tmp_path: Path) -> None:
    files = pickle.loads(pickle.dumps(DirectoryFiles(tmp_path)))
    files.write("a", "x", b"1")
    assert (tmp_path / "a" / "x").read_bytes() == b"1"
