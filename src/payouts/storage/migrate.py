"""Apply the Alembic migrations shipped inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from payouts.storage.database import Database

# Any fixed number: serialises concurrent `migrate` runs (serve and workers starting at once).
_MIGRATION_LOCK_KEY = 7_250_001


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "payouts.storage:migrations")
    config.attributes["connection"] = conn
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        command.upgrade(alembic_config(conn), revision)


def downgrade(db: Database, revision: str) -> None:
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        command.downgrade(alembic_config(conn), revision)


def schema_behind(db: Database) -> str | None:
    """Why this release cannot use the database's schema (it is missing, or at another
    revision than this release's migrations end at), or None when it is at head. Reads
    only: commands other than `migrate` and `serve` never change the schema."""
    with db.read() as conn:
        return schema_behind_on(conn)


def schema_behind_on(conn: Connection) -> str | None:
    """schema_behind() on a connection (a backup opened read-only, say)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return None
    if not current:
        return "the database has no payouts schema"
    return (
        f"the database schema is at revision {', '.join(sorted(current))}; this release"
        f" needs {', '.join(sorted(heads))}"
    )
