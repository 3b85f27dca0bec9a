"""Migration 0002 goes down and up again to exactly storage/tables.py (test_migrations.py
checks a full upgrade), and the audit log is append-only at the database, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from payouts.storage import migrate
from payouts.storage.clock import utcnow
from payouts.storage.tables import audit_log, metadata


def test_migrations_go_down_and_up_again(db):
    migrate.downgrade(db, "0001")
    with db.read() as conn:
        tables = set(conn.dialect.get_table_names(conn))
    assert "audit_log" not in tables
    migrate.upgrade(db)
    with db.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET outcome = 'forged'", "DELETE FROM audit_log"],
)
def test_audit_log_refuses_update_and_delete(db, statement):
    with db.write() as conn:
        conn.execute(
            insert(audit_log).values(
                created_at=utcnow(),
                actor="tester",
                action="resolve_challenge",
                status_code=200,
                outcome="ok",
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(text(statement))
    with db.read() as conn:
        assert conn.execute(text("SELECT outcome FROM audit_log")).scalars().all() == ["ok"]


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no TRUNCATE
def test_audit_log_refuses_truncate_on_postgres(db):
    with pytest.raises(DBAPIError, match="append-only"), db.write() as conn:
        conn.execute(text("TRUNCATE audit_log"))
