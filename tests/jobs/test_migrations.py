"""The versioned schema: migrations applied once, in order, in one transaction, on both backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from orfeas.jobs.db import Database, PostgresDatabase, SQLiteDatabase, migrate, schema_version
from orfeas.jobs.schema import MIGRATIONS, SCHEMA
from orfeas.jobs.states import JobState
from orfeas.jobs.store import JobStore
from tests.jobs.conftest import make_job
from tests.jobs.servers import new_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "postgresql":
        url = new_database(request.getfixturevalue("pg_admin_url"), f"m_{uuid.uuid4().hex[:12]}")
        database: Database = PostgresDatabase(url)
    else:
        database = SQLiteDatabase(tmp_path / "orfeas.db")
    request.addfinalizer(database.close)
    return database


@pytest.mark.unit
def test_store_records_the_current_version_once(db: Database, tmp_path: Path) -> None:
    JobStore(tmp_path / "a", db)
    JobStore(tmp_path / "b", db)  # a second start applies nothing
    assert schema_version(db) == len(MIGRATIONS)
    assert db.query("SELECT COUNT(*) FROM schema_version")[0][0] == len(MIGRATIONS)


@pytest.mark.unit
def test_adding_a_column_is_one_entry(db: Database, tmp_path: Path) -> None:
    store = JobStore(tmp_path, db)
    job = store.create(make_job())
    extended = (*MIGRATIONS, "ALTER TABLE jobs ADD COLUMN notes TEXT")
    assert migrate(db, extended) == len(MIGRATIONS) + 1
    assert db.query("SELECT id, notes FROM jobs") == [(job.id, None)]
    assert migrate(db, extended) == len(MIGRATIONS) + 1  # idempotent


@pytest.mark.unit
def test_failed_migration_changes_nothing(db: Database) -> None:
    migrate(db, MIGRATIONS)
    broken = (*MIGRATIONS, ("ALTER TABLE jobs ADD COLUMN a TEXT", "ALTER TABLE nowhere ADD COLUMN b TEXT"))
    with pytest.raises(Exception):  # noqa: B017 - each driver has its own error class
        migrate(db, broken)
    assert schema_version(db) == len(MIGRATIONS)
    db.execute("ALTER TABLE jobs ADD COLUMN a TEXT")  # the first statement was rolled back


@pytest.mark.unit
def test_newer_database_is_refused(db: Database) -> None:
    migrate(db, (*MIGRATIONS, "CREATE TABLE extra (x TEXT)"))
    with pytest.raises(RuntimeError, match="newer"):
        migrate(db, MIGRATIONS)


@pytest.mark.unit
def test_database_from_before_versioning_is_adopted(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "orfeas.db")
    for statement in SCHEMA:  # what an older ORFEAS created, without schema_version
        db.execute(statement)
    JobStore(tmp_path, db)
    assert schema_version(db) == len(MIGRATIONS)
    db.close()


@pytest.mark.unit
def test_version_1_database_keeps_its_jobs(db: Database, tmp_path: Path) -> None:
    """A database made before mesh jobs and the cache (version 1) is upgraded in place."""
    migrate(db, MIGRATIONS[:1])
    db.execute(
        "INSERT INTO jobs (id, state, engine, params, formats, input_kind, has_input, input_size, "
        "created_at) VALUES ('old', 'queued', 'relief', '{}', '[\"stl\"]', 'image', 1, 10, 1.0)"
    )
    store = JobStore(tmp_path, db)
    job = store.get("old")
    assert job is not None
    assert (job.task, job.input_name, job.cache_key, job.cached_from) == ("generate", "input.png", None, None)


@pytest.mark.unit
def test_version_2_rows_become_one_spec_each(db: Database, tmp_path: Path) -> None:
    """Version 3 folds the columns that described a job into one JSON spec, row by row."""
    migrate(db, MIGRATIONS[:2])
    columns = (
        "id, state, engine, params, formats, input_kind, input_text, lettering, task, input_name, "
        "text_to_image"
    )
    rows = [
        (
            "img",
            "succeeded",
            "relief",
            '{"mode": "puffy"}',
            '["stl", "glb"]',
            "image",
            None,
            None,
            "generate",
            "input.png",
            None,
        ),
        (
            "txt",
            "queued",
            "relief",
            '{"mode": "relief"}',
            '["stl"]',
            "text",
            "HI",
            '{"border_px": 4}',
            "generate",
            "input.png",
            None,
        ),
        (
            "art",
            "failed",
            "relief",
            "{}",
            '["glb"]',
            "text",
            "a fox",
            None,
            "generate",
            "input.png",
            '{"method": "diffusion", "options": {"steps": 2}}',
        ),
        (
            "fix",
            "queued",
            "doctor",
            '{"units": "in"}',
            '["stl"]',
            "model",
            None,
            None,
            "repair",
            "input.stl",
            None,
        ),
    ]
    for row in rows:
        db.execute(
            f"INSERT INTO jobs ({columns}, has_input, input_size, created_at) "
            f"VALUES ({', '.join('?' * len(row))}, 1, 10, 1.0)",
            row,
        )
    store = JobStore(tmp_path, db)
    image, text, painted, mesh = (store.get(job_id) for job_id in ("img", "txt", "art", "fix"))
    assert image and image.spec.params == {"mode": "puffy"} and image.formats == ("stl", "glb")
    assert image.input_kind == "image" and image.state is JobState.SUCCEEDED
    assert text and text.spec.text == "HI" and text.spec.lettering == {"border_px": 4} and text.spec.typeset
    assert painted and painted.spec.painted and painted.spec.diffusion == {"steps": 2}
    assert mesh and mesh.task == "repair" and mesh.input_kind == "model" and mesh.input_name == "input.stl"
    assert mesh.spec.params == {"units": "in"}
    old_columns = {
        "engine",
        "params",
        "formats",
        "input_kind",
        "input_text",
        "lettering",
        "task",
        "text_to_image",
    }
    for column in old_columns:  # gone: the spec is the one place
        with pytest.raises(Exception):  # noqa: B017 - each driver has its own error class
            db.query(f"SELECT {column} FROM jobs")
