"""Where jobs live: rows in a database, files in :mod:`orfeas.jobs.files` (a directory per job).

Files are written atomically (temporary name, fsync, rename) and an artifact is recorded in the
database only after it is in place, in the same transaction that marks the job succeeded: a
half-written or unrecorded file is never listed or served.

Every state change is one conditional ``UPDATE … WHERE state IN (…)`` whose allowed sources come
from :data:`orfeas.jobs.states.TRANSITIONS`, so the state machine holds even when several threads
or processes share the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from orfeas.errors import StorageFull
from orfeas.files import write_atomic
from orfeas.jobs.db import Database, SQLiteDatabase, migrate
from orfeas.jobs.files import DirectoryFiles, JobFiles, job_files
from orfeas.jobs.schema import COLUMN_COUNT, COLUMNS, MIGRATIONS, column_json, job_from_row, job_values
from orfeas.jobs.states import (
    TERMINAL,
    Artifact,
    FailureReason,
    InvalidTransition,
    Job,
    JobState,
    input_names,
    out_of_space,
    sources,
)
from orfeas.spec import MASK_EDIT_NAME, JobSpec

T = TypeVar("T")

log = logging.getLogger("orfeas.jobs.store")


#: A job folder without a database row is removed at start-up once it is this old.
ORPHAN_AGE_S = 600.0


@dataclass(frozen=True)
class Recovery:
    """What :meth:`JobStore.recover` did at start-up."""

    requeued: tuple[str, ...]
    interrupted: tuple[str, ...]
    queued: tuple[str, ...]  # every job now waiting, oldest first (re-queued ones included)


class JobStore:
    """Jobs and their files. Safe to share between threads; each thread gets its own connection."""

    def __init__(
        self,
        data_dir: str | Path,
        db: Database | None = None,
        jobs_dir: str | Path | None = None,
        files: JobFiles | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        root = jobs_dir if jobs_dir is not None else self.data_dir / "jobs"
        self.files: JobFiles = files or job_files(root)
        self.db: Database = db or SQLiteDatabase(self.data_dir / "orfeas.db")
        #: ``observe(job_id, job)`` after every :meth:`get`: how the Celery queue learns of changes
        #: workers made to a job before anyone in this process acts on them.
        self.read_observers: list[Callable[[str, Job | None], None]] = []
        migrate(self.db, MIGRATIONS)
        self._keep_reserve()

    def close(self) -> None:
        self.db.close()

    # --- files --------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        """The folder of a job's files when they are in a directory (tests and tools look there)."""
        assert isinstance(self.files, DirectoryFiles), "job files are not in a directory"
        return self.files.folder(job_id)

    def recorded_name(self, job: Job, name: str) -> str | None:
        """``name`` when it is a recorded file of ``job``, else ``None``: names are looked up, never
        joined, so ``../../orfeas.db`` resolves to nothing."""
        if name in job.input_names:
            return name
        return name if job.artifact(name) else None

    def file_path(self, job: Job, name: str) -> Path | None:
        """A local path of a recorded file of ``job`` (see :meth:`recorded_name`), or ``None``."""
        recorded = self.recorded_name(job, name)
        return self.files.local_path(job.id, recorded) if recorded else None

    # --- create and read ----------------------------------------------------------------------
    def create(self, job: Job, input_data: bytes | None = None, mask_edit: bytes | None = None) -> Job:
        """Insert a new queued job; its input files (the picture or mesh, a painted mask edit) are on
        disk before the row exists."""
        if job.state is not JobState.QUEUED:
            raise InvalidTransition("New jobs start queued.")
        if (mask_edit is not None) != job.spec.mask_edit or (mask_edit is not None and input_data is None):
            raise ValueError("a job's spec says whether it has a mask edit; the file must come with it")
        try:
            if input_data is not None:
                self.files.write(job.id, job.input_name, input_data)
            if mask_edit is not None:
                self.files.write(job.id, MASK_EDIT_NAME, mask_edit)
            sizes = [len(d) for d in (input_data, mask_edit) if d is not None]
            self._insert(job, sum(sizes) if sizes else None)
        except BaseException as exc:
            self.files.remove_job(job.id)
            if out_of_space(exc):
                raise StorageFull(
                    "The server's disk is full: the job was not accepted. Try again later."
                ) from exc
            raise
        created = self.get(job.id)
        assert created is not None
        return created

    def _insert(self, job: Job, input_size: int | None) -> None:
        self.db.execute(
            f"INSERT INTO jobs ({COLUMNS}) VALUES ({', '.join('?' * COLUMN_COUNT)})",
            job_values(job, input_size),
        )

    def get(self, job_id: str) -> Job | None:
        rows = self.db.query(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        job = None
        if rows:
            # only a succeeded job has recorded artifacts: skip the second query for the rest
            succeeded = rows[0][2] == JobState.SUCCEEDED
            job = job_from_row(rows[0], self._artifacts([job_id]).get(job_id, ()) if succeeded else ())
        for observe in self.read_observers:
            observe(job_id, job)
        return job

    def list(self, state: JobState | None = None, limit: int = 20, offset: int = 0) -> tuple[list[Job], int]:
        """A page of jobs, newest first, and the total count matching the filter."""
        where, params = ("WHERE state = ?", [state.value]) if state else ("", [])
        total = int(self.db.query(f"SELECT COUNT(*) FROM jobs {where}", params)[0][0])
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM jobs {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
            [*params, int(limit), int(offset)],
        )
        artifacts = self._artifacts([r[0] for r in rows])
        return [job_from_row(r, artifacts.get(r[0], ())) for r in rows], total

    def progress_of(self, job_ids: Sequence[str]) -> dict[str, tuple[JobState, float]]:
        """(state, progress) of each of ``job_ids`` that exists: one small query, for watching jobs."""
        if not job_ids:
            return {}
        marks = ", ".join("?" * len(job_ids))
        rows = self.db.query(f"SELECT id, state, progress FROM jobs WHERE id IN ({marks})", list(job_ids))
        return {row[0]: (JobState(row[1]), float(row[2] or 0.0)) for row in rows}

    def count(self, state: JobState) -> int:
        return int(self.db.query("SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,))[0][0])

    def _artifacts(self, job_ids: Sequence[str]) -> dict[str, tuple[Artifact, ...]]:
        if not job_ids:
            return {}
        marks = ", ".join("?" * len(job_ids))
        rows = self.db.query(
            f"SELECT job_id, name, format, size, content_type FROM artifacts WHERE job_id IN ({marks}) "
            "ORDER BY job_id, rowid",
            list(job_ids),
        )
        found: dict[str, list[Artifact]] = {}
        for job_id, name, fmt, size, content_type in rows:
            found.setdefault(job_id, []).append(Artifact(name, fmt, int(size), content_type))
        return {k: tuple(v) for k, v in found.items()}

    # --- result cache -------------------------------------------------------------------------
    def cached_result(self, key: str, formats: Iterable[str]) -> Job | None:
        """The newest succeeded job made with cache key ``key`` that has a file for every format."""
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM jobs WHERE cache_key = ? AND state = ? ORDER BY finished_at DESC LIMIT 8",
            (key, JobState.SUCCEEDED.value),
        )
        artifacts = self._artifacts([r[0] for r in rows])
        wanted = set(formats)
        for row in rows:
            job = job_from_row(row, artifacts.get(row[0], ()))
            have = set(self.files.names(job.id))
            files = [a.name for a in job.artifacts if a.format in wanted]
            if len(files) == len(wanted) and have.issuperset(files):
                return job
        return None

    def create_cached(self, job: Job, source: Job) -> Job:
        """Record ``job`` as succeeded at once with ``source``'s result: report, input and the files
        of ``job.formats``, shared with :meth:`JobFiles.share` (a hard link in a directory)."""
        artifacts = [a for a in source.artifacts if a.format in job.formats]
        names = [a.name for a in artifacts] + list(source.input_names)
        now = time.time()
        done = replace(
            job,
            state=JobState.SUCCEEDED,
            progress=1.0,
            stage=None,
            started_at=now,
            finished_at=now,
            report=source.report,
            input_name=source.input_name,
            cache_key=None,
            cached_from=source.id,
        )
        try:
            for name in names:
                self.files.share(source.id, job.id, name)
            with self.db.transaction():
                self._insert(done, source.input_size if source.has_input else None)
                self._record_artifacts(job.id, artifacts)
        except BaseException:
            self.files.remove_job(job.id)
            raise
        created = self.get(job.id)
        assert created is not None
        return created

    def trim_cache(self, max_bytes: int) -> int:
        """Forget the oldest cache entries beyond ``max_bytes`` of files (the jobs themselves stay)."""
        rows = self.db.query(
            "SELECT j.id, j.input_size + "
            "COALESCE((SELECT SUM(size) FROM artifacts a WHERE a.job_id = j.id), 0) "
            "FROM jobs j WHERE j.cache_key IS NOT NULL AND j.state = ? ORDER BY j.finished_at DESC, j.id",
            (JobState.SUCCEEDED.value,),
        )
        total, forget = 0, []
        for job_id, size in rows:
            total += int(size)
            if total > max_bytes:
                forget.append(job_id)
        if forget:
            marks = ", ".join("?" * len(forget))
            self.db.execute(f"UPDATE jobs SET cache_key = NULL WHERE id IN ({marks})", forget)
            log.info("result cache over %d B: forgot %d oldest entr(ies)", max_bytes, len(forget))
        return len(forget)

    # --- state changes ------------------------------------------------------------------------
    def _move(self, job_id: str, target: JobState, assignments: str, params: Sequence[Any]) -> bool:
        allowed = sorted(s.value for s in sources(target))
        marks = ", ".join("?" * len(allowed))
        changed = self.db.execute(
            f"UPDATE jobs SET state = ?, {assignments} WHERE id = ? AND state IN ({marks})",
            [target.value, *params, job_id, *allowed],
        )
        return changed == 1

    def claim(self, job_id: str) -> Job | None:
        """queued → running (attempt + 1); ``None`` when the job is no longer queued (e.g. cancelled)."""
        ok = self.db.execute(
            "UPDATE jobs SET state = ?, stage = NULL, progress = 0, attempts = attempts + 1, "
            "started_at = ?, cancel_requested = 0 WHERE id = ? AND state = ?",
            (JobState.RUNNING.value, time.time(), job_id, JobState.QUEUED.value),
        )
        return self.get(job_id) if ok == 1 else None

    def set_progress(self, job_id: str, stage: str, progress: float) -> bool:
        """running → running with a new stage and overall progress (never moving backwards)."""
        return (
            self.db.execute(
                "UPDATE jobs SET stage = ?, progress = CASE WHEN progress > ? THEN progress ELSE ? END "
                "WHERE id = ? AND state = ?",
                (stage, progress, progress, job_id, JobState.RUNNING.value),
            )
            == 1
        )

    def succeed(
        self,
        job_id: str,
        *,
        report: dict[str, Any],
        timings: dict[str, float],
        artifacts: Iterable[Artifact],
    ) -> bool:
        """running → succeeded, recording the artifacts (already renamed into place) atomically."""
        artifacts = list(artifacts)

        def record() -> bool:
            with self.db.transaction():
                if not self._move(
                    job_id,
                    JobState.SUCCEEDED,
                    "progress = 1, finished_at = ?, report = ?, timings = ?, error_code = NULL, "
                    "error_message = NULL",
                    (time.time(), column_json(report), column_json(timings)),
                ):
                    return False
                self.db.execute("DELETE FROM artifacts WHERE job_id = ?", (job_id,))
                self._record_artifacts(job_id, artifacts)
            return True

        return self._with_room(record)  # the files are written: keeping them beats failing the job

    def _record_artifacts(self, job_id: str, artifacts: Iterable[Artifact]) -> None:
        for a in artifacts:
            self.db.execute(
                "INSERT INTO artifacts (job_id, name, format, size, content_type) VALUES (?, ?, ?, ?, ?)",
                (job_id, a.name, a.format, a.size, a.content_type),
            )

    def fail(
        self, job_id: str, reason: FailureReason, message: str, timings: dict[str, float] | None = None
    ) -> bool:
        """queued/running → failed(reason); on a full disk too (the reserve is given up for it), so
        no job is left running because its failure could not be written down."""
        return self._with_room(
            lambda: self._move(
                job_id,
                JobState.FAILED,
                "error_code = ?, error_message = ?, finished_at = ?, timings = ?",
                (FailureReason(reason).value, message, time.time(), column_json(timings or {})),
            )
        )

    def cancel(self, job_id: str) -> bool:
        """queued/running → cancelled."""
        return self._move(
            job_id,
            JobState.CANCELLED,
            "error_code = ?, error_message = ?, finished_at = ?",
            (FailureReason.CANCELLED.value, "Cancelled on request.", time.time()),
        )

    def cancel_if_queued(self, job_id: str) -> bool:
        """queued → cancelled, only if nobody has started the job yet."""
        return (
            self.db.execute(
                "UPDATE jobs SET state = ?, error_code = ?, error_message = ?, finished_at = ? "
                "WHERE id = ? AND state = ?",
                (
                    JobState.CANCELLED.value,
                    FailureReason.CANCELLED.value,
                    "Cancelled on request.",
                    time.time(),
                    job_id,
                    JobState.QUEUED.value,
                ),
            )
            == 1
        )

    def request_cancel(self, job_id: str) -> bool:
        """Flag a running job; its worker stops at the next stage boundary."""
        return (
            self.db.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = ?",
                (job_id, JobState.RUNNING.value),
            )
            == 1
        )

    def release(self, job_id: str) -> bool:
        """running → queued on a clean shutdown; the aborted run does not count as an attempt."""
        self.clear_outputs(job_id)
        return self._move(
            job_id,
            JobState.QUEUED,
            "stage = NULL, progress = 0, cancel_requested = 0, "
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END",
            (),
        )

    def requeue_lost(self, job_id: str) -> bool:
        """running → queued for a job whose worker was lost (a redelivery runs it again); the lost
        run keeps counting as an attempt, and its unrecorded files are removed."""
        self.clear_outputs(job_id)
        return self._move(job_id, JobState.QUEUED, "stage = NULL, progress = 0, cancel_requested = 0", ())

    def clear_outputs(self, job_id: str) -> None:
        """Remove a job's unrecorded files (a failed or cancelled run's leftovers), keeping the input."""
        recorded = {r[0] for r in self.db.query("SELECT name FROM artifacts WHERE job_id = ?", (job_id,))}
        for name, spec in self.db.query("SELECT input_name, spec FROM jobs WHERE id = ?", (job_id,)):
            recorded.update(input_names(name, JobSpec.from_json(spec)))
        for name in self.files.names(job_id):
            if name not in recorded:
                self.files.remove(job_id, name)

    def delete(self, job_id: str) -> bool:
        """Remove a finished job, its rows and its folder. Queued and running jobs are not deleted."""
        terminal = sorted(s.value for s in TERMINAL)
        finished = self.db.query(
            f"SELECT id FROM jobs WHERE id = ? AND state IN ({', '.join('?' * len(terminal))})",
            (job_id, *terminal),
        )
        if not finished:
            return False
        # Files first: on a full disk the database needs room to record the delete, and removing
        # the files is what gives it that room. A job with no files frees nothing, so then the
        # reserve is given up for it (and taken again once there is room).
        self.files.remove_job(job_id)

        def forget() -> int:
            with self.db.transaction():
                self.db.execute("DELETE FROM artifacts WHERE job_id = ?", (job_id,))
                return self.db.execute(
                    f"DELETE FROM jobs WHERE id = ? AND state IN ({', '.join('?' * len(terminal))})",
                    (job_id, *terminal),
                )

        try:
            gone = self._with_room(forget)
        except Exception as exc:
            if not out_of_space(exc):
                raise
            raise StorageFull(
                "The job's files were removed, but the disk is too full to record it; try again."
            ) from exc
        self._keep_reserve()
        return gone == 1

    #: Bytes kept aside on the data disk so that deleting a job can always be recorded.
    RESERVE_BYTES = 256 * 1024

    def _with_room(self, write: Callable[[], T]) -> T:
        """Run the database ``write``; when the disk is full, give up the reserve and the database's
        spare log space, and try once more."""
        try:
            return write()
        except Exception as exc:
            if not out_of_space(exc):
                raise
            freed = self._release_reserve()
            if not (self.db.make_room() or freed):
                raise
        return write()

    def _reserve(self) -> Path:
        return self.data_dir / ".space-reserve"

    def _keep_reserve(self) -> None:
        """Hold :attr:`RESERVE_BYTES` on the data disk (quietly nothing when there is no room)."""
        path = self._reserve()
        if path.is_file() and path.stat().st_size >= self.RESERVE_BYTES:
            return
        try:
            with open(path, "wb") as handle:
                handle.write(b"\0" * self.RESERVE_BYTES)
        except OSError:
            path.unlink(missing_ok=True)

    def _release_reserve(self) -> bool:
        """Give the reserve back to the disk; whether there was one."""
        path = self._reserve()
        if not path.is_file():
            return False
        path.unlink(missing_ok=True)
        return True

    # --- start-up and housekeeping ------------------------------------------------------------
    def recover(self, max_attempts: int) -> Recovery:
        """After a crash: running jobs get another run if they have attempts left, else fail.

        Files that are not recorded (temporary ``.part`` files, artifacts of an interrupted run)
        are removed, and so are folders without a job row (a crash between write and insert).
        """
        running = self.db.query("SELECT id, attempts FROM jobs WHERE state = ?", (JobState.RUNNING.value,))
        requeued: list[str] = []
        interrupted: list[str] = []
        for job_id, attempts in running:
            if int(attempts) < max_attempts:
                if self.requeue_lost(job_id):
                    requeued.append(job_id)
            elif self.fail(
                job_id,
                FailureReason.INTERRUPTED,
                f"The service stopped while this job was running "
                f"({attempts} of {max_attempts} attempts used).",
            ):
                interrupted.append(job_id)
        self._sweep_files()
        queued = tuple(
            r[0]
            for r in self.db.query(
                "SELECT id FROM jobs WHERE state = ? ORDER BY created_at, id", (JobState.QUEUED.value,)
            )
        )
        if requeued or interrupted:
            log.warning(
                "recovered after an unclean stop: %d job(s) re-queued, %d failed as interrupted",
                len(requeued),
                len(interrupted),
            )
        return Recovery(tuple(requeued), tuple(interrupted), queued)

    def _sweep_files(self, orphan_age_s: float = ORPHAN_AGE_S) -> None:
        # Runs at start-up, when no job of this store runs. A folder without a row is a crash between
        # writing the input and inserting the row; a young one may be a job another process is
        # creating in a shared directory right now, so only old ones go.
        now = time.time()
        rows = self.db.query("SELECT id, has_input, input_name, spec FROM jobs")
        known = {
            job_id: set(input_names(name if has_input else None, JobSpec.from_json(spec)))
            for job_id, has_input, name, spec in rows
        }
        recorded: dict[str, set[str]] = {}
        for job_id, name in self.db.query("SELECT job_id, name FROM artifacts"):
            recorded.setdefault(job_id, set()).add(name)
        for job_id, changed_at in self.files.jobs().items():
            if job_id not in known:
                if now - changed_at >= orphan_age_s:
                    self.files.remove_job(job_id)
                continue
            keep = recorded.get(job_id, set()) | known[job_id]
            for name in self.files.names(job_id):
                if name not in keep:
                    self.files.remove(job_id, name)

    def disk_usage(self) -> int:
        """Bytes held by recorded files (inputs and artifacts)."""
        inputs = self.db.query("SELECT COALESCE(SUM(input_size), 0) FROM jobs")[0][0]
        outputs = self.db.query("SELECT COALESCE(SUM(size), 0) FROM artifacts")[0][0]
        return int(inputs) + int(outputs)

    def expire(self, older_than_s: float, now: float | None = None) -> list[str]:
        """Delete finished jobs that finished more than ``older_than_s`` seconds ago."""
        cutoff = (now if now is not None else time.time()) - older_than_s
        terminal = sorted(s.value for s in TERMINAL)
        rows = self.db.query(
            f"SELECT id FROM jobs WHERE state IN ({', '.join('?' * len(terminal))}) AND finished_at < ? "
            "ORDER BY finished_at",
            (*terminal, cutoff),
        )
        removed = [r[0] for r in rows if self.delete(r[0])]
        if removed:
            log.info(
                "retention: expired %d finished job(s) older than %.1f h", len(removed), older_than_s / 3600
            )
        return removed

    def prune(self, budget_bytes: int) -> list[str]:
        """Delete finished jobs, oldest first, until the recorded files fit in ``budget_bytes``."""
        usage = self.disk_usage()
        if usage <= budget_bytes:
            return []
        terminal = sorted(s.value for s in TERMINAL)
        rows = self.db.query(
            "SELECT j.id, j.input_size + "
            "COALESCE((SELECT SUM(size) FROM artifacts a WHERE a.job_id = j.id), 0) "
            f"FROM jobs j WHERE j.state IN ({', '.join('?' * len(terminal))}) ORDER BY j.created_at, j.id",
            terminal,
        )
        removed: list[str] = []
        before = usage
        for job_id, size in rows:
            if usage <= budget_bytes:
                break
            if self.delete(job_id):
                removed.append(job_id)
                usage -= int(size)
        if removed:
            log.info(
                "retention: disk budget %d B exceeded (%d B); pruned %d oldest job(s), now %d B",
                budget_bytes,
                before,
                len(removed),
                usage,
            )
        return removed

    def fail_lost(self, started_before: float, message: str) -> list[str]:
        """Fail as ``interrupted`` the running jobs started before ``started_before``: nobody runs
        them any more. Each is one conditional UPDATE, so a job that was meanwhile handed out again
        (and so started anew) is left alone."""
        rows = self.db.query(
            "SELECT id FROM jobs WHERE state = ? AND started_at < ?", (JobState.RUNNING.value, started_before)
        )
        failed = []
        for (job_id,) in rows:
            changed = self.db.execute(
                "UPDATE jobs SET state = ?, error_code = ?, error_message = ?, finished_at = ? "
                "WHERE id = ? AND state = ? AND started_at < ?",
                (
                    JobState.FAILED.value,
                    FailureReason.INTERRUPTED.value,
                    message,
                    time.time(),
                    job_id,
                    JobState.RUNNING.value,
                    started_before,
                ),
            )
            if changed == 1:
                self.clear_outputs(job_id)
                failed.append(job_id)
        return failed

    def check_writable(self) -> None:
        """Raise if the database or the data folder cannot be written (used by /readyz)."""
        with self.db.transaction():
            self.db.execute("DELETE FROM probe")
            self.db.execute("INSERT INTO probe (id, at) VALUES (1, ?)", (time.time(),))
        probe = self.data_dir / ".write-probe"
        write_atomic(probe, b"ok")
        probe.unlink(missing_ok=True)
