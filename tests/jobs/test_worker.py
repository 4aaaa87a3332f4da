"""The local worker pool with the real pipeline: runs, progress, limits, cancel, timeout, recovery."""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trimesh

from orfeas.admission import PICTURE_NAME
from orfeas.jobs.files import DirectoryFiles
from orfeas.jobs.queue import QueueFull
from orfeas.jobs.runner import Runner, Task
from orfeas.jobs.states import FailureReason, JobState
from orfeas.jobs.store import JobStore
from orfeas.jobs.worker import WorkerPool
from orfeas.mesh.exchange import load
from orfeas.spec import JobSpec
from tests.conftest import disc_rgba, png_bytes
from tests.jobs.conftest import Recorder, make_job, wait_finished

pytestmark = pytest.mark.integration

StartPool = Callable[..., tuple[WorkerPool, JobStore, Recorder]]


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_job_runs_to_success_with_progress(start_pool: StartPool, small_png: bytes, mode: str) -> None:
    pool, store, events = start_pool(worker_mode=mode)
    job = pool.submit(make_job(), small_png)
    done = wait_finished(store, job.id)

    assert done.state is JobState.SUCCEEDED, done.error_message
    assert done.attempts == 1 and done.progress == 1.0 and done.report is not None
    assert done.report["watertight"] is True
    assert {a.name for a in done.artifacts} == {"model.stl", "model.glb"}
    for artifact in done.artifacts:
        data = (store.job_dir(job.id) / artifact.name).read_bytes()
        assert len(data) == artifact.size
        mesh = load(data, artifact.format)
        assert isinstance(mesh, trimesh.Trimesh) and mesh.is_watertight
    assert not [p for p in store.job_dir(job.id).iterdir() if p.name.endswith(".part")]

    kinds = events.kinds(job.id)
    assert kinds[0] == "submitted" and kinds[1] == "started" and kinds[-1] == "succeeded"
    stages = [e.job.stage for e in events.events if e.kind == "progress"]
    assert stages[0] == "decode" and stages[-1] == "export"
    progress = [e.job.progress for e in events.events if e.kind == "progress"]
    assert progress == sorted(progress)


def test_text_jobs_and_failures_at_run_time(start_pool: StartPool, small_png: bytes) -> None:
    pool, store, _ = start_pool()
    text = pool.submit(make_job(text="OK", params={"target_faces": 2000}))
    blank = pool.submit(make_job(), b"not an image")  # the API checks this; the worker must too
    done = wait_finished(store, text.id)
    assert done.state is JobState.SUCCEEDED, done.error_message
    failed = wait_finished(store, blank.id)
    assert failed.state is JobState.FAILED and failed.error_code == FailureReason.INVALID_INPUT
    assert failed.error_message
    assert sorted(p.name for p in store.job_dir(blank.id).iterdir()) == [PICTURE_NAME]
    odd = pool.submit(make_job(params={"mode": "bogus"}), small_png)
    assert wait_finished(store, odd.id).error_code == FailureReason.INVALID_INPUT


def test_full_queue_refuses_and_changes_nothing(start_pool: StartPool, small_png: bytes) -> None:
    pool, store, _ = start_pool(queue_size=2)
    pool.stop()  # no worker takes jobs: the queue only fills
    first = pool.submit(make_job(), small_png)
    second = pool.submit(make_job(), small_png)
    rejected = make_job()
    with pytest.raises(QueueFull) as caught:
        pool.submit(rejected, small_png)
    assert caught.value.retry_after >= 1 and caught.value.code == "queue_full"
    assert store.get(rejected.id) is None and not store.job_dir(rejected.id).exists()
    assert pool.waiting == 2
    # cancelling a waiting job frees its slot at once
    cancelled = pool.cancel(first.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert pool.waiting == 1
    pool.submit(make_job(), small_png)
    assert {j.id for j in store.list(JobState.QUEUED)[0]} >= {second.id}


def test_cancel_a_running_job_stops_it_between_stages(start_pool: StartPool, small_png: bytes) -> None:
    pool, store, events = start_pool()
    job = make_job(params={"mode": "puffy", "target_faces": 2000})

    def cancel_when_started(event: Any) -> None:
        if event.kind == "started" and event.job.id == job.id:
            pool.cancel(job.id)

    pool.add_listener(cancel_when_started)
    pool.submit(job, small_png)
    done = wait_finished(store, job.id)
    assert done.state is JobState.CANCELLED and done.error_code == "cancelled"
    assert done.artifacts == ()
    assert sorted(p.name for p in store.job_dir(job.id).iterdir()) == [PICTURE_NAME]
    assert events.kinds(job.id)[-1] == "cancelled"
    # the runner survives a cancel and runs the next job
    after = pool.submit(make_job(), small_png)
    assert wait_finished(store, after.id).state is JobState.SUCCEEDED


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_timeout_fails_the_job_and_the_pool_goes_on(
    start_pool: StartPool, small_png: bytes, mode: str
) -> None:
    pool, store, _ = start_pool(job_timeout_s=0.001, worker_mode=mode)
    job = pool.submit(make_job(), small_png)
    done = wait_finished(store, job.id)
    assert done.state is JobState.FAILED and done.error_code == "timeout"
    assert "longer than" in (done.error_message or "")
    assert done.artifacts == ()
    assert pool.alive()


def test_a_dead_runner_fails_its_job_and_is_replaced(start_pool: StartPool, small_png: bytes) -> None:
    pool, store, _ = start_pool()
    big = png_bytes(disc_rgba(512))
    job = make_job(params={"mode": "puffy"}, formats=("stl", "3mf", "obj", "glb", "ply"))

    def kill_runner(event: Any) -> None:
        if event.kind == "progress" and event.job.id == job.id and event.job.stage == "decode":
            import os
            import signal

            for child in _runner_pids():
                os.kill(child, signal.SIGKILL)

    pool.add_listener(kill_runner)
    pool.submit(job, big)
    done = wait_finished(store, job.id)
    assert done.state is JobState.FAILED and done.error_code == "internal"
    assert "died" in (done.error_message or "")
    after = pool.submit(make_job(), small_png)
    assert wait_finished(store, after.id).state is JobState.SUCCEEDED


def _full_disk_for(calls: int, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, failing as a full disk does for its first ``calls`` calls."""
    left = [calls]

    def full(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return method(*args, **kwargs)

    return full


def test_a_failure_the_full_disk_would_not_take_is_recorded_once_there_is_room(
    start_pool: StartPool, small_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool, store, _ = start_pool()
    monkeypatch.setattr(store, "claim", _full_disk_for(1, store.claim))
    monkeypatch.setattr(store, "fail", _full_disk_for(2, store.fail))
    job = pool.submit(make_job(), small_png)
    # the claim hit a full disk, and so did recording that: it is kept and tried again between jobs
    done = wait_finished(store, job.id)
    assert done.state is JobState.FAILED and done.error_code == "storage_full", done
    assert "disk space" in (done.error_message or "")
    assert pool.executor.record_unrecorded() == 0
    after = pool.submit(make_job(), small_png)
    assert wait_finished(store, after.id).state is JobState.SUCCEEDED


def _runner_pids() -> list[int]:
    import multiprocessing

    return [p.pid for p in multiprocessing.active_children() if p.name == "orfeas-runner" and p.pid]


def test_start_recovers_interrupted_jobs(start_pool: StartPool, tmp_path: Any, small_png: bytes) -> None:
    store = JobStore(tmp_path / "data")
    again = store.create(make_job(), small_png)
    spent = store.create(make_job(), small_png)
    waiting = store.create(make_job(), small_png)
    store.claim(again.id)
    store.claim(spent.id)
    store.db.execute("UPDATE jobs SET attempts = 2 WHERE id = ?", (spent.id,))

    _, store, events = start_pool(store=store, max_attempts=2)
    rerun = wait_finished(store, again.id)
    assert rerun.state is JobState.SUCCEEDED and rerun.attempts == 2
    assert wait_finished(store, waiting.id).state is JobState.SUCCEEDED
    interrupted = store.get(spent.id)
    assert interrupted is not None and interrupted.error_code == "interrupted"
    assert "failed" in events.kinds(spent.id) and "requeued" in events.kinds(again.id)


def test_stop_puts_a_running_job_back_without_using_an_attempt(start_pool: StartPool) -> None:
    pool, store, events = start_pool()
    job = make_job(params={"mode": "puffy"}, formats=("stl", "3mf", "obj", "glb", "ply"))
    running = threading.Event()

    def note_progress(event: Any) -> None:
        if event.kind == "progress" and event.job.id == job.id:
            running.set()

    pool.add_listener(note_progress)
    pool.submit(job, png_bytes(disc_rgba(512)))
    assert running.wait(120)
    pool.stop()
    back = store.get(job.id)
    assert back is not None and back.state is JobState.QUEUED and back.attempts == 0
    assert events.kinds(job.id)[-1] == "requeued"
    assert sorted(p.name for p in store.job_dir(job.id).iterdir()) == [PICTURE_NAME]


def test_listener_errors_do_not_break_jobs(start_pool: StartPool, small_png: bytes) -> None:
    pool, store, _ = start_pool()

    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    pool.add_listener(broken)
    job = pool.submit(make_job(), small_png)
    assert wait_finished(store, job.id).state is JobState.SUCCEEDED


def test_runner_ignores_cancels_for_other_jobs(tmp_path: Any, small_png: bytes, settings: Any) -> None:
    files = DirectoryFiles(tmp_path)
    files.write("j1", PICTURE_NAME, small_png)
    runner = Runner("thread")
    try:
        runner.send(("cancel", "another-job"))  # a late cancel for a finished job
        task = Task(
            job_id="j1",
            spec=JobSpec(engine="relief", params={"mode": "relief", "target_faces": 2000}, formats=("stl",)),
            files=files,
            settings=settings,
            input_name=PICTURE_NAME,
        )
        runner.send(task)
        messages = []
        while not messages or messages[-1][0] == "progress":
            assert runner.poll(60)
            messages.append(runner.recv())
        assert messages[-1][0] == "done" and messages[-1][1] == "j1"
        assert files.names("j1") == [PICTURE_NAME, "model.stl"]
    finally:
        runner.stop()
