"""Upgrading an empty database gives exactly tables.metadata, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from payouts.storage import migrate
from payouts.storage.database import Database
from payouts.storage.tables import metadata
from tests.conftest import pg_execute, pg_url


@pytest.fixture
def empty_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (not the fixtures' migrated template)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_template")  # PostgreSQL reachable (or skip/fail as usual)
    name = f"payouts_test_migrations_{uuid.uuid4().hex[:8]}"
    pg_execute(f"CREATE DATABASE {name}")
    yield pg_url(name)
    pg_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class TestMigrations:
    def test_upgrade_of_an_empty_database_matches_the_metadata(self, empty_database):
        db = Database(empty_database)
        try:
            with db.read() as conn:
                assert inspect(conn).get_table_names() == []
            migrate.upgrade(db)
            with db.read() as conn:
                context = MigrationContext.configure(
                    conn, opts={"compare_type": True, "compare_server_default": True}
                )
                diffs = compare_metadata(context, metadata)
                tables = set(inspect(conn).get_table_names())
        finally:
            db.dispose()
        assert diffs == []
        assert tables == set(metadata.tables) | {"alembic_version"}

    def test_upgrade_twice_is_a_no_op(self, empty_database):
        db = Database(empty_database)
        try:
            migrate.upgrade(db)
            migrate.upgrade(db)
            with db.read() as conn:
                context = MigrationContext.configure(conn)
                heads = context.get_current_heads()
                assert compare_metadata(context, metadata) == []
        finally:
            db.dispose()
        assert len(heads) == 1
