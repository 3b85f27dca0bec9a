"""Faults injected into a real database: a trigger that makes some inserts fail."""

from __future__ import annotations

from sqlalchemy import text

from payouts.storage.database import Database

FAULT = "injected fault"


def fail_inserts(db: Database, table: str, when: str) -> None:
    """Make every INSERT into `table` whose NEW row matches `when` fail (e.g. "NEW.user_id = 3")."""
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS"
                    f" $$ BEGIN IF {when} THEN RAISE EXCEPTION '{FAULT}'; END IF;"
                    " RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER injected_fault BEFORE INSERT ON {table}"
                    " FOR EACH ROW EXECUTE FUNCTION injected_fault()"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE TRIGGER injected_fault BEFORE INSERT ON {table} WHEN {when}"
                    f" BEGIN SELECT RAISE(ABORT, '{FAULT}'); END"
                )
            )


def heal(db: Database, table: str) -> None:
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(text(f"DROP TRIGGER injected_fault ON {table}"))
            conn.execute(text("DROP FUNCTION injected_fault()"))
        else:
            conn.execute(text("DROP TRIGGER injected_fault"))
