"""What a database's catalog says about its schema, beyond what Alembic compares: CHECK
constraints, index definitions (partial-index predicates included), storage parameters
(fillfactor), triggers and trigger functions.

Two databases on the same server are compared with each other (one built by the
migrations, one by `metadata.create_all`), so each server normalises both the same way:
PostgreSQL rewrites `status IN ('a', 'b')` into its own form, SQLite keeps the text.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, inspect, text


def _squeeze(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip().strip(";").lower()


def catalog(conn: Connection) -> dict[str, set[tuple[str, ...]]]:
    """Everything Alembic's comparison leaves out, as comparable sets of rows."""
    if conn.dialect.name == "postgresql":
        return _postgres_catalog(conn)
    return _sqlite_catalog(conn)


_POSTGRES_QUERIES = {
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
    """,
    "storage": """
        SELECT relname, array_to_string(reloptions, ',') FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
          AND relname <> 'alembic_version'
    """,
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE NOT tgisinternal
    """,
    "functions": """
        SELECT proname, pg_get_functiondef(oid) FROM pg_proc
        WHERE pronamespace = 'public'::regnamespace
    """,
}


def _postgres_catalog(conn: Connection) -> dict[str, set[tuple[str, ...]]]:
    found = {}
    for what, query in _POSTGRES_QUERIES.items():
        rows = conn.execute(text(query)).all()
        found[what] = {
            tuple(_squeeze(str(value)) for value in row)
            for row in rows
            if "alembic_version" not in str(row[0])
        }
    return found


def _sqlite_catalog(conn: Connection) -> dict[str, set[tuple[str, ...]]]:
    inspector = inspect(conn)
    tables = [t for t in inspector.get_table_names() if t != "alembic_version"]
    checks = {
        (table, check["name"] or "", _squeeze(check["sqltext"]))
        for table in tables
        for check in inspector.get_check_constraints(table)
    }
    rows = conn.execute(
        text(
            "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
        )
    ).all()
    return {
        "constraints": checks,
        "indexes": {
            (row.tbl_name, row.name, _squeeze(row.sql))
            for row in rows
            if row.type == "index" and row.sql  # automatic indexes have no SQL
        },
        "triggers": {
            (row.tbl_name, row.name, _squeeze(row.sql)) for row in rows if row.type == "trigger"
        },
    }


def differences(
    migrated: dict[str, set[tuple[str, ...]]], modelled: dict[str, set[tuple[str, ...]]]
) -> list[str]:
    """Human-readable lines for everything one side has and the other has not."""
    lines = []
    for what in sorted(set(migrated) | set(modelled)):
        for row in sorted(migrated.get(what, set()) - modelled.get(what, set())):
            lines.append(f"{what}: only the migrations have {row}")
        for row in sorted(modelled.get(what, set()) - migrated.get(what, set())):
            lines.append(f"{what}: only the models have {row}")
    return lines
