"""Only `payouts migrate` and `payouts serve` change the schema: every other command uses the
database as it is and, when the schema is behind this release, says so and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.migration import MigrationContext

from payouts.config import Settings
from payouts.storage import migrate
from payouts.storage.database import Database
from tests.conftest import pg_execute, pg_url
from tests.support.cli import run_payouts

# Reading, writing and working commands; none of them may migrate.
COMMANDS = [
    ("verify",),
    ("audit-log",),
    ("tokens", "list"),
    ("tokens", "create", "--name", "ops", "--role", "viewer"),
    ("jobs",),
    ("demo", "--winners", "2", "--losers", "1"),
    ("worker", "--once"),
]


@pytest.fixture
def old_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database migrated to revision 0002 only: a release behind."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        request.getfixturevalue("pg_template")
        name = f"payouts_test_old_{tmp_path.name[-8:].replace('-', '_')}"
        pg_execute(f"CREATE DATABASE {name}")
        url = pg_url(name)
    db = Database(url)
    migrate.upgrade(db, "0002")
    db.dispose()
    yield url
    if backend == "postgres":
        pg_execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def revision(url: str) -> set[str]:
    db = Database(url)
    try:
        with db.read() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        db.dispose()


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_a_command_refuses_a_schema_behind_and_leaves_it(old_database, command):
    result = run_payouts(Settings(database_url=old_database), *command)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the database schema is at revision 0002" in result.stderr
    assert "run `payouts migrate` first" in result.stderr
    assert revision(old_database) == {"0002"}


def test_migrate_brings_it_to_this_release(old_database):
    assert run_payouts(Settings(database_url=old_database), "migrate").returncode == 0
    assert revision(old_database) != {"0002"}
    assert run_payouts(Settings(database_url=old_database), "verify").returncode == 0


def test_a_missing_sqlite_file_is_named_not_created(tmp_path):
    missing = tmp_path / "nothing-here.db"
    result = run_payouts(Settings(database_url=f"sqlite:///{missing}"), "verify")
    assert result.returncode == 1
    assert f"no database at {missing}" in result.stderr
    assert not missing.exists()
