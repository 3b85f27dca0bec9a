"""The audit log: who did what to which object, from where, and how it ended.

Rows are only ever inserted (the database refuses UPDATE and DELETE on the table). A
successful action writes its row in the transaction of the action itself, so a committed
change always has its row; a refused one writes it afterwards, in a transaction of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, RowMapping, insert, select

from payouts.storage.clock import utcnow
from payouts.storage.tables import audit_log

OK = "ok"
REPLAYED = "replayed"
_MAX_OUTCOME = 1000
_MAX_TARGET = 200
_INSERT = insert(audit_log)  # built once: it runs in every audited request
# Many rows in one multi-row INSERT from a cached template (SQLAlchemy's "insertmanyvalues",
# which RETURNING turns on), instead of compiling a VALUES list of every row each time.
_INSERT_MANY = insert(audit_log).returning(audit_log.c.id)


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str | None,
    client: str | None,
    status_code: int,
    outcome: str,
) -> None:
    record_many(
        conn,
        [
            row(
                actor=actor,
                action=action,
                target=target,
                client=client,
                status_code=status_code,
                outcome=outcome,
            )
        ],
    )


def row(
    *,
    actor: str,
    action: str,
    target: str | None,
    client: str | None,
    status_code: int,
    outcome: str,
) -> dict[str, object]:
    """One audit row's values, cut to the columns' sizes."""
    return {
        "created_at": utcnow(),
        "actor": actor[:64],
        "action": action[:64],
        "target": target[:_MAX_TARGET] if target else None,
        "client": client[:64] if client else None,
        "status_code": status_code,
        "outcome": outcome[:_MAX_OUTCOME],
    }


def record_many(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Insert rows made by `row()`, in one statement."""
    if len(rows) == 1:
        conn.execute(_INSERT, rows[0])
    elif rows:
        conn.execute(_INSERT_MANY, list(rows)).all()


def recent(conn: Connection, *, limit: int, before_id: int | None = None) -> Sequence[RowMapping]:
    """Newest first; `before_id` pages back from the last id of the previous page."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return conn.execute(query).mappings().all()


def export(
    conn: Connection,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    page: int = 1_000,
) -> Iterator[RowMapping]:
    """Rows with since <= created_at < until, streamed (a server-side cursor on PostgreSQL),
    so an export of any size needs little memory. Scans the table: it has no index on
    created_at, since every audited request would pay for one."""
    t = audit_log.c
    query = select(audit_log).order_by(t.id.desc() if newest_first else t.id)
    if since is not None:
        query = query.where(t.created_at >= _utc(since))
    if until is not None:
        query = query.where(t.created_at < _utc(until))
    if limit is not None:
        query = query.limit(limit)
    result = conn.execution_options(stream_results=True, yield_per=page).execute(query)
    yield from result.mappings()


def _utc(moment: datetime) -> datetime:
    """In UTC: SQLite keeps (and compares) the UTC wall clock as text, PostgreSQL a moment."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC)
