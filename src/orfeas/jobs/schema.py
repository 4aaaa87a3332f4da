"""The jobs database's tables: the schema and its migrations (both SQLite and PostgreSQL), and how a
:class:`~orfeas.jobs.states.Job` becomes a row and back. :mod:`orfeas.jobs.store` runs the queries."""

from __future__ import annotations

from typing import Any

import orjson

from orfeas.jobs.db import Database, Migration, Row
from orfeas.jobs.states import Artifact, Job, JobState
from orfeas.spec import JobSpec


def column_json(value: Any) -> str:
    """JSON text for a column (orjson: a status read decodes these on every request)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        stage TEXT,
        progress REAL NOT NULL DEFAULT 0,
        engine TEXT NOT NULL,
        params TEXT NOT NULL,
        formats TEXT NOT NULL,
        input_kind TEXT NOT NULL,
        input_text TEXT,
        input_filename TEXT,
        lettering TEXT,
        has_input INTEGER NOT NULL DEFAULT 0,
        input_size INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        error_message TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL,
        timings TEXT NOT NULL DEFAULT '{}',
        report TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at)",
    """
    CREATE TABLE IF NOT EXISTS artifacts (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        PRIMARY KEY (job_id, name)
    )
    """,
    "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at REAL NOT NULL)",
)

#: Columns of schema version 2 that version 3 folds into the ``spec`` JSON column.
SPEC_COLUMNS = (
    "engine",
    "params",
    "formats",
    "input_kind",
    "input_text",
    "lettering",
    "task",
    "text_to_image",
)


def _specs_from_columns(db: Database) -> None:
    """Migration 3: each job's ``spec`` from the columns that described it before."""
    rows = db.query(f"SELECT id, {', '.join(SPEC_COLUMNS)} FROM jobs")
    for job_id, engine, params, formats, _kind, text, lettering, task, painted in rows:
        painting = orjson.loads(painted) if painted else None
        spec = JobSpec(
            task=task or "generate",
            engine=engine,
            params=orjson.loads(params or "{}"),
            formats=tuple(orjson.loads(formats or "[]")) or None,
            text=text,
            lettering=orjson.loads(lettering) if lettering else None,
            text_to_image=painting["method"] if painting else "lettering",
            diffusion=painting["options"] if painting else None,
        )
        db.execute("UPDATE jobs SET spec = ? WHERE id = ?", (spec.to_json().decode(), job_id))


# The versioned schema (orfeas.jobs.db.migrate): append-only, version n is entry n. Version 1 is the
# schema above (idempotent, so databases made before versioning adopt it). To add a column, append one
# entry, e.g. "ALTER TABLE jobs ADD COLUMN cache_key TEXT", and add the column to COLUMNS. A step may
# be a function of the database too (a data conversion). A new job option needs no migration at all:
# it is a field of the JobSpec, stored in the spec column.
MIGRATIONS: tuple[Migration, ...] = (
    SCHEMA,
    (  # 2: mesh jobs (analyze, repair) and the result cache
        "ALTER TABLE jobs ADD COLUMN task TEXT NOT NULL DEFAULT 'generate'",
        "ALTER TABLE jobs ADD COLUMN input_name TEXT NOT NULL DEFAULT 'input.png'",
        "ALTER TABLE jobs ADD COLUMN cache_key TEXT",
        "ALTER TABLE jobs ADD COLUMN cached_from TEXT",
        "CREATE INDEX IF NOT EXISTS jobs_cache_key ON jobs (cache_key)",
        "ALTER TABLE jobs ADD COLUMN text_to_image TEXT",
    ),
    (  # 3: what a job makes is one JSON value, the JobSpec (old rows converted)
        "ALTER TABLE jobs ADD COLUMN spec TEXT",
        _specs_from_columns,
        *(f"ALTER TABLE jobs DROP COLUMN {c}" for c in SPEC_COLUMNS),
    ),
)

COLUMNS = (
    "id, spec, state, stage, progress, input_filename, has_input, input_size, error_code, error_message, "
    "attempts, cancel_requested, created_at, started_at, finished_at, timings, report, input_name, "
    "cache_key, cached_from"
)
COLUMN_COUNT = COLUMNS.count(",") + 1


def job_values(job: Job, input_size: int | None) -> tuple[Any, ...]:
    """A new job's row, in the order of :data:`COLUMNS`."""
    return (
        job.id,
        job.spec.to_json().decode(),
        job.state.value,
        job.stage,
        job.progress,
        job.input_filename,
        int(input_size is not None),
        input_size or 0,
        job.error_code,
        job.error_message,
        job.attempts,
        0,
        job.created_at,
        job.started_at,
        job.finished_at,
        column_json(job.timings),
        column_json(job.report) if job.report is not None else None,
        job.input_name,
        job.cache_key,
        job.cached_from,
    )


def job_from_row(row: Row, artifacts: tuple[Artifact, ...]) -> Job:
    """A job from its row (in the order of :data:`COLUMNS`) and its recorded files."""
    (
        job_id,
        spec,
        state,
        stage,
        progress,
        input_filename,
        has_input,
        input_size,
        error_code,
        error_message,
        attempts,
        cancel_requested,
        created_at,
        started_at,
        finished_at,
        timings,
        report,
        input_name,
        cache_key,
        cached_from,
    ) = row
    return Job(
        id=job_id,
        spec=JobSpec.from_json(spec),
        state=JobState(state),
        stage=stage,
        progress=float(progress),
        input_filename=input_filename,
        has_input=bool(has_input),
        input_size=int(input_size),
        error_code=error_code,
        error_message=error_message,
        attempts=int(attempts),
        cancel_requested=bool(cancel_requested),
        created_at=float(created_at),
        started_at=started_at,
        finished_at=finished_at,
        timings=orjson.loads(timings) if timings else {},
        report=orjson.loads(report) if report else None,
        artifacts=artifacts,
        input_name=input_name,
        cache_key=cache_key,
        cached_from=cached_from,
    )
