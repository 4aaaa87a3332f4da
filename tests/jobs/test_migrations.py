"""The versioned schema: migrations applied once, in order, in one transaction, on both backends."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from orfeas.jobs.db import Database, PostgresDatabase, SQLiteDatabase, migrate, schema_version
from orfeas.jobs.store import _SCHEMA, MIGRATIONS, JobStore
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
    for statement in _SCHEMA:  # what an older ORFEAS created, without schema_version
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
