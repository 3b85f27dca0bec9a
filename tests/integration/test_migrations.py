"""Upgrading an empty database gives exactly tables.metadata, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, text

from payouts.domain.payout_math import allocate, extra_coin_cutoff, payout_amount, split_pool
from payouts.services import challenges
from payouts.services.demo import create_demo
from payouts.storage import migrate
from payouts.storage.clock import utcnow
from payouts.storage.database import Database
from payouts.storage.tables import metadata, payout_entries, transactions
from tests.conftest import pg_execute, pg_url
from tests.support.books import assert_books_balance
from tests.support.reads import ledger_credits
from tests.support.scenario import worker
from tests.support.schema import catalog, differences


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


@pytest.fixture
def modelled_database(empty_database: str, backend: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database, built from the models with create_all."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'modelled.db'}"
    else:
        name = f"payouts_test_models_{uuid.uuid4().hex[:8]}"
        pg_execute(f"CREATE DATABASE {name}")
        url = pg_url(name)
    db = Database(url)
    try:
        with db.write() as conn:
            metadata.create_all(conn)
        yield url
    finally:
        db.dispose()
        if backend == "postgres":
            pg_execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def _catalog_of(url: str) -> dict[str, set[tuple[str, ...]]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return catalog(conn)
    finally:
        db.dispose()


def _upgrade_with(url: str, script_location: Path) -> None:
    db = Database(url)
    try:
        with db.write() as conn:
            config = migrate.alembic_config(conn)
            config.set_main_option("script_location", str(script_location))
            command.upgrade(config, "head")
    finally:
        db.dispose()


MIGRATIONS = Path(migrate.__file__).parent / "migrations"

# Edits to a copy of the migrations that Alembic's own comparison does not notice:
# (file, regular expression, replacement, a name the comparison must then report).
BROKEN_COPIES = {
    "a CHECK dropped": (
        "0001_initial_schema.py",
        r"sa\.CheckConstraint\(\s*\"platform_fee_bps BETWEEN 0 AND 10000\"[^)]*\)\s*\),",
        "",
        "ck_challenges_fee_bps",
    ),
    "a partial index predicate changed": (
        "0003_pay_from_stakes.py",
        r"status = '\{status\}'",
        "status <> 'completed'",
        "ix_payout_entries_pending",
    ),
    "a trigger left out": (
        "0002_audit_log_and_idempotency_keys.py",
        r"for statement in statements:",
        "for statement in statements[:-1]:",
        "audit_log_",
    ),
}


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

    def test_constraints_indexes_storage_and_triggers_match_the_models(
        self, empty_database, modelled_database
    ):
        db = Database(empty_database)
        try:
            migrate.upgrade(db)
        finally:
            db.dispose()
        assert differences(_catalog_of(empty_database), _catalog_of(modelled_database)) == []

    @pytest.mark.parametrize("broken", BROKEN_COPIES, ids=list(BROKEN_COPIES))
    def test_a_broken_copy_of_the_migrations_is_caught(
        self, empty_database, modelled_database, tmp_path, broken
    ):
        filename, pattern, replacement, named = BROKEN_COPIES[broken]
        copy = tmp_path / "migrations"
        shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
        version = copy / "versions" / filename
        edited, edits = re.subn(pattern, replacement, version.read_text())
        assert edits, f"the edit for {broken!r} no longer applies to {filename}"
        version.write_text(edited)

        _upgrade_with(empty_database, copy)
        found = differences(_catalog_of(empty_database), _catalog_of(modelled_database))
        assert any(named in line for line in found), found

    @pytest.mark.parametrize("backend", ["postgres"])  # fillfactor is PostgreSQL's
    def test_a_storage_parameter_left_out_is_caught(
        self, backend, empty_database, modelled_database, tmp_path
    ):
        copy = tmp_path / "migrations"
        shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
        version = copy / "versions" / "0003_pay_from_stakes.py"
        version.write_text(
            version.read_text().replace(
                'op.execute("ALTER TABLE users SET (fillfactor = 45)")', "pass"
            )
        )
        _upgrade_with(empty_database, copy)
        found = differences(_catalog_of(empty_database), _catalog_of(modelled_database))
        assert any("fillfactor=45" in line and "users" in line for line in found), found

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


class TestPayFromStakesMigration:
    """0003: a job the old engine left half-materialised and half-paid is finished by the
    new one: its pending entries through the pending-entry path, the winners it had not
    materialised through slices, everyone exactly once."""

    def test_a_job_in_flight_during_the_upgrade_is_paid_exactly_once(
        self, empty_database, settings, monkeypatch
    ):
        db = Database(empty_database)
        try:
            migrate.upgrade(db, "0002")
            # the engine of 0002 resolved without writing events (the outbox came in 0004)
            monkeypatch.setattr(challenges, "insert_events", lambda conn, rows: None)
            with db.write() as conn:
                demo = create_demo(conn, 120, 10, 500, seed=9)
                job_id = challenges.resolve(conn, demo.challenge_id, "challenger_won").job_id
                stakes = dict(
                    conn.execute(
                        text(
                            "SELECT user_id, amount FROM stakes"
                            " WHERE challenge_id = :c AND side = 'challenger'"
                        ),
                        {"c": demo.challenge_id},
                    ).all()
                )
                _old_engine_halfway(conn, job_id, demo.challenge_id, stakes)
            monkeypatch.undo()
            migrate.upgrade(db)
            with db.read() as conn:
                left = conn.execute(text("SELECT count(*) FROM payout_slices")).scalar_one()
            assert left == 1  # the 80 winners it had not materialised, in one slice of 500

            worker(
                db, settings.model_copy(update={"database_url": empty_database})
            ).run_until_idle()
            with db.read() as conn:
                job = conn.execute(text("SELECT status, processed_winners FROM payout_jobs")).one()
                split = split_pool(
                    sum(stakes.values())
                    + int(
                        conn.execute(
                            text(
                                "SELECT sum(amount) FROM stakes"
                                " WHERE challenge_id = :c AND side = 'challenged'"
                            ),
                            {"c": demo.challenge_id},
                        ).scalar_one()
                    ),
                    500,
                )
                assert ledger_credits(conn, demo.challenge_id, "challenge_payout") == allocate(
                    split.winner_pool, stakes
                )
                assert_books_balance(conn)
            assert tuple(job) == ("completed", 120)
        finally:
            db.dispose()


def _old_engine_halfway(conn, job_id, challenge_id, stakes):
    """What the old engine wrote for a job it planned, materialised for its first 40 winners
    (by user id) and paid 20 of: the pending entries, the paid ones with ledger rows."""
    job = conn.execute(
        text("SELECT winner_pool, winning_total FROM payout_jobs WHERE id = :j"),
        {"j": job_id.hex},
    ).one()
    cutoff = extra_coin_cutoff(job.winner_pool, stakes)
    firsts = sorted(stakes)[:40]
    conn.execute(
        text(
            "UPDATE payout_jobs SET planned = true, cutoff_remainder = :r, cutoff_user_id = :u,"
            " materialised_through = :m, processed_winners = 20, status = 'running'"
            " WHERE id = :j"
        ),
        {
            "r": cutoff.remainder if cutoff else None,
            "u": cutoff.user_id if cutoff else None,
            "m": firsts[-1],
            "j": job_id.hex if conn.dialect.name == "sqlite" else job_id,
        },
    )
    now = utcnow()
    for n, user_id in enumerate(firsts):
        amount = payout_amount(job.winner_pool, stakes[user_id], job.winning_total, user_id, cutoff)
        paid = n < 20
        entry_id = conn.execute(
            insert(payout_entries)
            .values(
                job_id=job_id,
                user_id=user_id,
                amount=amount,
                status="completed" if paid else "pending",
                attempts=1 if paid else 0,
                created_at=now,
                processed_at=now if paid else None,
            )
            .returning(payout_entries.c.id)
        ).scalar_one()
        if paid:
            conn.execute(
                insert(transactions).values(
                    user_id=user_id,
                    type="challenge_payout",
                    amount=amount,
                    challenge_id=challenge_id,
                    payout_entry_id=entry_id,
                    created_at=now,
                )
            )
            conn.execute(
                text("UPDATE users SET balance = balance + :a WHERE id = :u"),
                {"a": amount, "u": user_id},
            )
