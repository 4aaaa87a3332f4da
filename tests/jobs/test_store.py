"""The SQLite job store: rows, atomic state changes, files, recovery and retention."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from orfeas.admission import PICTURE_NAME
from orfeas.files import write_atomic
from orfeas.jobs.db import SQLiteDatabase
from orfeas.jobs.states import Artifact, FailureReason, InvalidTransition, JobState
from orfeas.jobs.store import JobStore
from orfeas.spec import MASK_EDIT_NAME
from tests.jobs.conftest import make_job

pytestmark = pytest.mark.unit

try:
    import psycopg

    INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
except ImportError:  # the `scale` extra is not installed: SQLite only
    INTEGRITY_ERRORS = (sqlite3.IntegrityError,)

STL = Artifact("model.stl", "stl", 3, "model/stl")


def finish(store: JobStore, job_id: str, payload: bytes = b"abc") -> None:
    """Run a job to success by hand, writing its one artifact the way a runner does."""
    assert store.claim(job_id) is not None
    write_atomic(store.job_dir(job_id) / "model.stl", payload)
    art = Artifact("model.stl", "stl", len(payload), "model/stl")
    assert store.succeed(job_id, report={"faces": 4}, timings={"mesh": 0.1}, artifacts=[art])


def test_the_embedded_database_is_in_wal_mode(tmp_path: Path) -> None:
    """SQLite only (the default store); PostgreSQL has no such mode to check."""
    store = JobStore(tmp_path)
    assert isinstance(store.db, SQLiteDatabase)
    conn = sqlite3.connect(tmp_path / "orfeas.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    store.close()


def test_create_stores_row_and_input(store: JobStore, small_png: bytes) -> None:
    job = make_job(input_filename="cat.png")
    created = store.create(job, small_png)
    assert created.state is JobState.QUEUED and created.has_input and created.input_size == len(small_png)
    assert created.spec == job.spec and created.formats == ("stl", "glb")
    assert (store.job_dir(job.id) / PICTURE_NAME).read_bytes() == small_png
    assert store.get(job.id) == created
    assert store.get("missing") is None
    with pytest.raises(InvalidTransition):
        store.create(make_job(state=JobState.RUNNING))
    with pytest.raises(INTEGRITY_ERRORS):  # the same id twice
        store.create(job, small_png)


def test_failed_insert_leaves_no_files(store: JobStore, small_png: bytes) -> None:
    job = store.create(make_job())
    with pytest.raises(INTEGRITY_ERRORS):
        store.create(make_job(id=job.id), small_png)
    assert not (store.job_dir(job.id) / PICTURE_NAME).exists()


def test_list_pages_newest_first_and_filters(store: JobStore) -> None:
    ids = [store.create(make_job(created_at=1000.0 + i)).id for i in range(5)]
    store.claim(ids[0])
    page, total = store.list(limit=2, offset=1)
    assert total == 5 and [j.id for j in page] == [ids[3], ids[2]]
    running, count = store.list(JobState.RUNNING)
    assert count == 1 and [j.id for j in running] == [ids[0]]
    assert store.count(JobState.QUEUED) == 4
    assert store.list(JobState.SUCCEEDED) == ([], 0)


def test_claim_is_exclusive_and_counts_attempts(store: JobStore) -> None:
    job = store.create(make_job())
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(store.claim(job.id))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    claimed = store.get(job.id)
    assert claimed is not None and claimed.state is JobState.RUNNING and claimed.attempts == 1
    assert claimed.started_at is not None


def test_progress_only_for_running_jobs_and_never_backwards(store: JobStore) -> None:
    job = store.create(make_job())
    assert not store.set_progress(job.id, "mesh", 0.5)
    store.claim(job.id)
    assert store.set_progress(job.id, "mesh", 0.5)
    assert store.set_progress(job.id, "simplify", 0.25)
    got = store.get(job.id)
    assert got is not None and got.stage == "simplify" and got.progress == 0.5


def test_success_records_artifacts_atomically(store: JobStore) -> None:
    job = store.create(make_job())
    assert not store.succeed(job.id, report={}, timings={}, artifacts=[STL])  # queued cannot succeed
    assert store.get(job.id).artifacts == ()  # type: ignore[union-attr]
    finish(store, job.id)
    done = store.get(job.id)
    assert done is not None and done.state is JobState.SUCCEEDED and done.progress == 1.0
    assert done.report == {"faces": 4} and done.timings == {"mesh": 0.1}
    assert done.artifacts == (STL,) and done.finished_at is not None
    # terminal: no further change is accepted
    assert not store.fail(job.id, FailureReason.INTERNAL, "late")
    assert not store.cancel(job.id)
    assert not store.set_progress(job.id, "mesh", 0.1)
    assert store.claim(job.id) is None


def test_fail_and_cancel(store: JobStore) -> None:
    queued = store.create(make_job())
    assert store.fail(queued.id, FailureReason.ENGINE_UNAVAILABLE, "no gpu")
    got = store.get(queued.id)
    assert got is not None and (got.state, got.error_code) == (JobState.FAILED, "engine_unavailable")

    other = store.create(make_job())
    store.claim(other.id)
    assert not store.cancel_if_queued(other.id)
    assert store.request_cancel(other.id)
    assert store.get(other.id).cancel_requested  # type: ignore[union-attr]
    assert store.cancel(other.id)
    got = store.get(other.id)
    assert got is not None and got.state is JobState.CANCELLED and got.error_code == "cancelled"
    assert not store.request_cancel(other.id)

    third = store.create(make_job())
    assert store.cancel_if_queued(third.id)
    assert not store.cancel_if_queued(third.id)


def test_release_gives_the_attempt_back(store: JobStore) -> None:
    job = store.create(make_job())
    store.claim(job.id)
    (store.job_dir(job.id) / ".model.stl.x.part").parent.mkdir(parents=True, exist_ok=True)
    (store.job_dir(job.id) / ".model.stl.x.part").write_bytes(b"half")
    assert store.release(job.id)
    got = store.get(job.id)
    assert got is not None and got.state is JobState.QUEUED and got.attempts == 0
    assert list(store.job_dir(job.id).iterdir()) == []
    assert not store.release(job.id)  # only running jobs are released


def test_delete_only_finished_jobs(store: JobStore) -> None:
    job = store.create(make_job(), b"png")
    assert not store.delete(job.id)
    finish(store, job.id)
    assert store.job_dir(job.id).is_dir()
    assert store.delete(job.id)
    assert store.get(job.id) is None and not store.job_dir(job.id).exists()
    assert not store.delete(job.id)


def test_file_paths_come_only_from_recorded_names(store: JobStore) -> None:
    job = store.create(make_job(), b"png")
    finish(store, job.id)
    done = store.get(job.id)
    assert done is not None
    assert store.file_path(done, "model.stl") == store.job_dir(job.id) / "model.stl"
    assert store.file_path(done, PICTURE_NAME) == store.job_dir(job.id) / PICTURE_NAME
    for hostile in ("model.obj", "../orfeas.db", "../../etc/passwd", "/etc/passwd", "..", ".", ""):
        assert store.file_path(done, hostile) is None
    no_input = store.create(make_job())
    assert store.file_path(no_input, PICTURE_NAME) is None


def test_fail_lost_fails_only_jobs_started_before_the_limit(store: JobStore) -> None:
    old, fresh, waiting = store.create(make_job()), store.create(make_job()), store.create(make_job())
    store.claim(old.id)
    store.claim(fresh.id)
    store.db.execute("UPDATE jobs SET started_at = ? WHERE id = ?", (time.time() - 3600, old.id))
    store.files.write(old.id, "model.stl", b"half a run")
    assert store.fail_lost(time.time() - 600, "lost") == [old.id]
    lost = store.get(old.id)
    assert lost is not None and (lost.state, lost.error_code, lost.error_message) == (
        JobState.FAILED,
        "interrupted",
        "lost",
    )
    assert store.files.names(old.id) == []  # the lost run's leftovers go
    assert store.get(fresh.id).state is JobState.RUNNING  # type: ignore[union-attr]
    assert store.get(waiting.id).state is JobState.QUEUED  # type: ignore[union-attr]
    assert store.fail_lost(time.time() - 600, "lost") == []


def test_recover_requeues_or_fails_interrupted_jobs(store: JobStore) -> None:
    fresh = store.create(make_job(created_at=1.0), b"png")
    second_try = store.create(make_job(created_at=2.0), b"png")
    spent = store.create(make_job(created_at=3.0), b"png")
    waiting = store.create(make_job(created_at=4.0))
    done = store.create(make_job(created_at=5.0))
    finish(store, done.id)
    store.claim(fresh.id)
    store.claim(second_try.id)
    store.claim(spent.id)
    store.db.execute("UPDATE jobs SET attempts = 2 WHERE id = ?", (spent.id,))  # its second run
    # leftovers of the interrupted runs: a temporary file and an unrecorded artifact
    (store.job_dir(fresh.id) / ".model.stl.abc.part").write_bytes(b"half")
    (store.job_dir(second_try.id) / "model.stl").write_bytes(b"unrecorded")
    orphan = store.job_dir("0" * 32)
    orphan.mkdir()
    (orphan / PICTURE_NAME).write_bytes(b"x")
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))  # an hour-old crash leftover
    young = store.job_dir("1" * 32)  # a job being created by another process right now
    young.mkdir()

    recovery = store.recover(max_attempts=2)

    assert set(recovery.requeued) == {fresh.id, second_try.id}
    assert recovery.interrupted == (spent.id,)
    assert recovery.queued == (fresh.id, second_try.id, waiting.id)
    failed = store.get(spent.id)
    assert failed is not None and (failed.state, failed.error_code) == (JobState.FAILED, "interrupted")
    assert sorted(p.name for p in store.job_dir(fresh.id).iterdir()) == [PICTURE_NAME]
    assert sorted(p.name for p in store.job_dir(second_try.id).iterdir()) == [PICTURE_NAME]
    assert sorted(p.name for p in store.job_dir(done.id).iterdir()) == ["model.stl"]
    assert not orphan.exists() and young.exists()
    assert store.count(JobState.RUNNING) == 0


def test_clear_outputs_keeps_input_and_recorded_files(store: JobStore) -> None:
    job = store.create(make_job(), b"png")
    store.claim(job.id)
    (store.job_dir(job.id) / "model.glb").write_bytes(b"partial run")
    store.clear_outputs(job.id)
    assert [p.name for p in store.job_dir(job.id).iterdir()] == [PICTURE_NAME]
    store.clear_outputs("no-such-job")


def test_a_mask_edit_is_an_input_file_kept_shared_and_deleted_with_its_job(store: JobStore) -> None:
    job = store.create(make_job(mask_edit=True), b"png", b"edit")
    assert job.input_names == (PICTURE_NAME, MASK_EDIT_NAME) and job.input_size == len(b"png") + len(b"edit")
    assert (store.job_dir(job.id) / MASK_EDIT_NAME).read_bytes() == b"edit"
    assert store.file_path(job, MASK_EDIT_NAME) == store.job_dir(job.id) / MASK_EDIT_NAME
    assert store.file_path(make_job(), MASK_EDIT_NAME) is None  # a job without an edit has no such file
    # a run's leftovers go, the inputs stay: after a failed run and after a crash
    store.claim(job.id)
    (store.job_dir(job.id) / "model.glb").write_bytes(b"partial run")
    store.clear_outputs(job.id)
    assert sorted(p.name for p in store.job_dir(job.id).iterdir()) == [PICTURE_NAME, MASK_EDIT_NAME]
    (store.job_dir(job.id) / "model.glb").write_bytes(b"partial run")
    store.recover(max_attempts=2)
    assert sorted(p.name for p in store.job_dir(job.id).iterdir()) == [PICTURE_NAME, MASK_EDIT_NAME]
    # an answer from the cache gets the edit too, and it outlives its source
    store.claim(job.id)
    write_atomic(store.job_dir(job.id) / "model.stl", b"abc")
    assert store.succeed(job.id, report={}, timings={}, artifacts=[STL])
    source = store.get(job.id)
    assert source is not None
    copy = store.create_cached(make_job(mask_edit=True), source)
    assert (store.job_dir(copy.id) / MASK_EDIT_NAME).read_bytes() == b"edit"
    assert store.delete(job.id) and not store.job_dir(job.id).exists()
    assert store.file_path(copy, MASK_EDIT_NAME) is not None


def test_the_spec_and_the_mask_edit_file_come_together(store: JobStore) -> None:
    for job, files in ((make_job(mask_edit=True), (b"png", None)), (make_job(), (b"png", b"edit"))):
        with pytest.raises(ValueError, match="mask edit"):
            store.create(job, *files)
        assert store.get(job.id) is None and not store.job_dir(job.id).exists()


def test_expire_removes_old_finished_jobs(store: JobStore, caplog: pytest.LogCaptureFixture) -> None:
    old = store.create(make_job(), b"png")
    finish(store, old.id)
    store.db.execute("UPDATE jobs SET finished_at = ? WHERE id = ?", (time.time() - 7200, old.id))
    recent = store.create(make_job())
    finish(store, recent.id)
    running = store.create(make_job())
    store.claim(running.id)
    with caplog.at_level("INFO", logger="orfeas.jobs.store"):
        assert store.expire(3600) == [old.id]
    assert "expired 1" in caplog.text
    assert store.get(old.id) is None and not store.job_dir(old.id).exists()
    assert store.get(recent.id) is not None and store.get(running.id) is not None
    assert store.expire(3600) == []


def test_prune_deletes_oldest_finished_first(store: JobStore, caplog: pytest.LogCaptureFixture) -> None:
    jobs = []
    for i in range(4):
        job = store.create(make_job(created_at=100.0 + i), b"p" * 10)
        finish(store, job.id, b"m" * 90)  # 100 bytes per job
        jobs.append(job.id)
    active = store.create(make_job(created_at=50.0), b"q" * 500)  # queued: never pruned
    assert store.disk_usage() == 900
    assert store.prune(1000) == []
    with caplog.at_level("INFO", logger="orfeas.jobs.store"):
        assert store.prune(650) == jobs[:3]
    assert "disk budget" in caplog.text
    assert store.disk_usage() == 600
    assert store.get(active.id) is not None
    assert store.prune(0) == [jobs[3]]


def test_check_writable(store: JobStore, tmp_path: Path) -> None:
    store.check_writable()
    store.close()
    with pytest.raises((sqlite3.ProgrammingError, RuntimeError)):
        store.check_writable()


def test_store_is_shared_between_threads(store: JobStore) -> None:
    ids = [store.create(make_job()).id for _ in range(20)]
    errors: list[BaseException] = []

    def work(chunk: list[str]) -> None:
        try:
            for job_id in chunk:
                store.claim(job_id)
                store.set_progress(job_id, "mesh", 0.5)
                store.fail(job_id, FailureReason.INTERNAL, "x")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count(JobState.FAILED) == 20
