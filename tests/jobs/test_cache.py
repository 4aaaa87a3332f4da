"""The result cache's key and its entries in the job store (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orfeas.jobs.cache import cache_key
from orfeas.jobs.states import Artifact, JobState
from orfeas.jobs.store import JobStore
from orfeas.settings import Settings
from orfeas.spec import JobSpec
from tests.jobs.conftest import make_job

BASE = {"task": "generate", "engine": "relief", "params": {"mode": "puffy"}}


def key_of(settings: Settings, data: bytes = b"picture", **spec: object) -> str:
    return cache_key(JobSpec.model_validate({**BASE, **spec}), data, settings)


@pytest.mark.unit
def test_the_key_changes_with_everything_that_decides_the_result(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = key_of(settings)
    assert key == key_of(settings) and len(key) == 64
    variants: list[dict[str, object]] = [
        {"task": "repair"},
        {"engine": "hunyuan3d"},
        {"params": {"mode": "relief"}},
        {"params": {"mode": "puffy", "size_mm": 80}},
        {"text": "ORFEAS"},
        {"lettering": {"border_px": 4}},
        {"text_to_image": "diffusion"},
    ]
    keys = {key_of(settings, **v) for v in variants}
    keys |= {key_of(settings, b"picturf"), key_of(Settings(data_dir=tmp_path, hunyuan3d_model_dir=tmp_path))}
    assert key not in keys and len(keys) == len(variants) + 2
    # parameter order and formats do not matter, and settings unrelated to weights do not either
    assert key_of(settings, params={"b": 1, "a": 2}) == key_of(settings, params={"a": 2, "b": 1})
    assert key_of(settings, formats=("stl",)) == key_of(settings, formats=("glb", "ply"))
    assert key_of(Settings(data_dir=tmp_path, workers=3)) == key_of(
        Settings(data_dir=tmp_path / "x", workers=1)
    )


@pytest.mark.unit
def test_a_mask_edit_is_part_of_the_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    edited = JobSpec.model_validate({**BASE, "mask_edit": True})
    one, other = (cache_key(edited, b"picture", settings, mask_edit=e) for e in (b"edit one", b"edit two"))
    assert one != other  # a different edit of the same picture is a different result
    assert one == cache_key(edited, b"picture", settings, mask_edit=b"edit one")
    assert key_of(settings) not in {one, other}  # and no edit at all is another one again


def _succeeded(store: JobStore, key: str, formats: tuple[str, ...] = ("stl", "glb")) -> str:
    job = store.create(make_job(cache_key=key, formats=formats), b"png-bytes")
    store.claim(job.id)
    artifacts = []
    for fmt in formats:
        data = f"{fmt} of {job.id}".encode()
        (store.job_dir(job.id) / f"model.{fmt}").write_bytes(data)
        artifacts.append(Artifact(f"model.{fmt}", fmt, len(data), "application/octet-stream"))
    assert store.succeed(job.id, report={"faces": 12}, timings={"mesh": 0.1}, artifacts=artifacts)
    return job.id


@pytest.mark.unit
def test_an_entry_answers_with_a_new_job_sharing_its_files(store: JobStore) -> None:
    source_id = _succeeded(store, "k1")
    assert store.cached_result("k2", ("stl",)) is None
    assert store.cached_result("k1", ("stl", "3mf")) is None  # no 3MF was made
    source = store.cached_result("k1", ("stl",))
    assert source is not None and source.id == source_id
    copy = store.create_cached(make_job(formats=("stl",)), source)
    assert copy.state is JobState.SUCCEEDED and copy.cached_from == source_id and copy.cache_key is None
    assert copy.report == {"faces": 12} and [a.name for a in copy.artifacts] == ["model.stl"]
    path = store.file_path(copy, "model.stl")
    assert path is not None and path.read_bytes() == f"stl of {source_id}".encode()
    assert store.file_path(copy, "input.png").read_bytes() == b"png-bytes"  # type: ignore[union-attr]
    # the copy outlives its source: files are linked, not shared by path
    assert store.delete(source_id)
    assert path.read_bytes() == f"stl of {source_id}".encode()
    assert store.cached_result("k1", ("stl",)) is None


@pytest.mark.unit
def test_a_missing_file_is_no_entry(store: JobStore) -> None:
    source_id = _succeeded(store, "k1")
    (store.job_dir(source_id) / "model.glb").unlink()
    assert store.cached_result("k1", ("glb",)) is None
    assert store.cached_result("k1", ("stl",)) is not None


@pytest.mark.unit
def test_trim_forgets_the_oldest_entries_beyond_the_cap(store: JobStore) -> None:
    first = _succeeded(store, "old")
    _succeeded(store, "new")
    size = store.disk_usage() // 2
    assert store.trim_cache(10 * size) == 0
    assert store.trim_cache(size) == 1
    assert store.cached_result("old", ("stl",)) is None and store.cached_result("new", ("stl",)) is not None
    assert store.get(first) is not None  # the job stays; only its entry is gone
    assert store.trim_cache(0) == 1
