"""The event outbox: writing events in the transaction of what they report, and reading
them back as a feed that never skips or repeats (docs/events.md).

Money events (payout.paid, refund.paid) are written by the pay statements themselves,
from the ledger rows they insert (slices.py, small_jobs.py, entries.py); this module writes
the rarer ones (job transitions, resolutions) and reads the feed.

PostgreSQL: an identity value is taken before commit, so a transaction that commits late
can leave a smaller id behind a larger one already read. Each row therefore carries its
writer's transaction id (`tx`), and the feed serves only rows whose transaction is older
than the reader's snapshot xmin (every transaction below it has ended: its rows are all
visible, or rolled back), in (tx, id) order. Transaction ids are handed out in increasing
order, so a transaction that ends later always has a larger tx than every row served.
SQLite: one writer at a time, so id order is commit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, insert, text

from payouts.domain.events import Cursor, event_id
from payouts.storage.clock import iso_utc, utcnow
from payouts.storage.sql import sql
from payouts.storage.tables import events, payout_jobs

# The writing transaction's id, as a BIGINT (xid8 has 64 bits and never wraps).
PG_TX = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
# Every transaction below it has ended (committed or rolled back).
PG_HORIZON = "CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)"


def _tx(conn: Connection) -> int | None:
    if conn.dialect.name != "postgresql":
        return None
    tx: int = conn.execute(text(f"SELECT {PG_TX}")).scalar_one()
    return tx


def insert_events(conn: Connection, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Write (type, data) events in the caller's transaction."""
    if not rows:
        return
    tx, now = _tx(conn), utcnow()
    conn.execute(
        insert(events),
        [{"type": kind, "tx": tx, "created_at": now, "data": data} for kind, data in rows],
    )


# --- Money events on SQLite -----------------------------------------------------------------
#
# The pay paths' PostgreSQL statements write their events themselves (a CTE over the ledger
# rows they insert). On SQLite, under the one write lock, the ledger rows a batch wrote are
# exactly those above the ledger's highest id before it: one more INSERT ... SELECT.

_LEDGER_MARK = sql("SELECT COALESCE(max(id), 0) FROM transactions")

# Job ids are 32 hex digits on SQLite; events show them as PostgreSQL does (8-4-4-4-12).
_UUID_TEXT = (
    "lower(substr(j.id, 1, 8) || '-' || substr(j.id, 9, 4) || '-' || substr(j.id, 13, 4)"
    " || '-' || substr(j.id, 17, 4) || '-' || substr(j.id, 21))"
)
_EVENTS_FROM_LEDGER_SQLITE = sql(f"""
INSERT INTO events (type, tx, created_at, data)
SELECT CASE t.type WHEN 'challenge_payout' THEN 'payout.paid' ELSE 'refund.paid' END, NULL,
       t.created_at,
       json_object('userId', t.user_id, 'amount', t.amount, 'challengeId', t.challenge_id,
                   'jobId', {_UUID_TEXT}, 'transactionId', t.id)
FROM transactions t
JOIN payout_jobs j ON j.challenge_id = t.challenge_id
WHERE t.id > :ledger_before AND t.payout_entry_id IS NOT NULL
ORDER BY t.id
""")


def ledger_mark(conn: Connection) -> int:
    """SQLite: the ledger's highest id, before a batch writes its rows."""
    mark: int = conn.execute(_LEDGER_MARK).scalar_one()
    return mark


def events_from_ledger(conn: Connection, ledger_before: int) -> None:
    """SQLite: one event per payout or refund ledger row written since `ledger_mark`."""
    conn.execute(_EVENTS_FROM_LEDGER_SQLITE, {"ledger_before": ledger_before})


# --- Job transitions ------------------------------------------------------------------------


def job_data(job: RowMapping) -> dict[str, Any]:
    """A job.* event's data: the job status endpoint's JSON."""
    total, done = job["total_winners"], job["processed_winners"]
    return {
        "jobId": str(job["id"]),
        "challengeId": job["challenge_id"],
        "kind": job["kind"],
        "status": job["status"],
        "totalWinners": total,
        "processedWinners": done,
        "failedWinners": job["failed_winners"],
        "progressPercent": 100 * done // total if total else 100,
        "createdAt": iso_utc(job["created_at"]),
        "completedAt": iso_utc(job["completed_at"]),
        "error": job["error"],
    }


def record_job_transitions(conn: Connection, job_ids: Iterable[uuid.UUID]) -> None:
    """job.completed / job.failed for each of these jobs that has settled, as it is now in
    this transaction (called by every path that settles a job, in its transaction)."""
    ids = list(job_ids)
    if not ids:
        return
    j = payout_jobs.c
    jobs = conn.execute(
        payout_jobs.select().where(j.id.in_(ids), j.status.in_(("completed", "failed")))
    ).mappings()
    insert_events(conn, [(f"job.{job['status']}", job_data(job)) for job in jobs])


# --- Reading the feed -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    tx: int
    type: str
    created_at: datetime
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": event_id(self.id),
            "type": self.type,
            "timestamp": iso_utc(self.created_at),
            "data": self.data,
        }

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.tx, self.id, int(self.created_at.timestamp()))


_COLUMNS = "id, COALESCE(tx, 0) AS tx, type, created_at, data"
_READ_POSTGRES = f"""
SELECT {_COLUMNS} FROM events
WHERE (tx, id) > (:tx, :id) AND tx < {PG_HORIZON} {{types}}
ORDER BY tx, id
LIMIT :limit
"""
_READ_SQLITE = f"""
SELECT {_COLUMNS} FROM events
WHERE id > :id {{types}}
ORDER BY id
LIMIT :limit
"""


def read_events(
    conn: Connection,
    after: Cursor,
    limit: int,
    types: Sequence[str] | None = None,
    through: Cursor | None = None,
) -> list[Event]:
    """Up to `limit` committed events after the cursor, oldest first; only `types` if
    given, and only up to `through` (inclusive) if given."""
    postgres = conn.dialect.name == "postgresql"
    where = ""
    params: dict[str, Any] = {"tx": after.tx, "id": after.id, "limit": limit}
    if types:
        where += " AND type IN :types"
        params["types"] = list(types)
    if through is not None:
        where += (
            " AND (tx, id) <= (:through_tx, :through_id)"
            if postgres
            else (" AND id <= :through_id")
        )
        params.update(through_tx=through.tx, through_id=through.id)
    clause = text((_READ_POSTGRES if postgres else _READ_SQLITE).format(types=where))
    if types:
        clause = clause.bindparams(bindparam("types", expanding=True))
    statement = clause.columns(created_at=events.c.created_at.type, data=events.c.data.type)
    return [
        Event(row.id, int(row.tx), row.type, row.created_at, row.data)
        for row in conn.execute(statement, params)
    ]


def backlog(conn: Connection, after: Cursor, types: Sequence[str] | None = None) -> int:
    """How many events come after the cursor (committed or about to be)."""
    postgres = conn.dialect.name == "postgresql"
    where = "(COALESCE(tx, 0), id) > (:tx, :id)" if postgres else "id > :id"
    params: dict[str, Any] = {"tx": after.tx, "id": after.id}
    statement = f"SELECT count(*) FROM events WHERE {where}"
    if types:
        statement += " AND type IN :types"
        params["types"] = list(types)
    clause = text(statement)
    if types:
        clause = clause.bindparams(bindparam("types", expanding=True))
    count: int = conn.execute(clause, params).scalar_one()
    return count


def latest_cursor(conn: Connection) -> Cursor:
    """The place after the newest committed event (a new webhook endpoint starts here)."""
    newest = read_newest(conn)
    return Cursor(0, 0, 0) if newest is None else newest.cursor


def read_newest(conn: Connection) -> Event | None:
    postgres = conn.dialect.name == "postgresql"
    where = (
        f"WHERE tx < {PG_HORIZON} ORDER BY tx DESC, id DESC" if postgres else ("ORDER BY id DESC")
    )
    statement = text(f"SELECT {_COLUMNS} FROM events {where} LIMIT 1").columns(
        created_at=events.c.created_at.type, data=events.c.data.type
    )
    row = conn.execute(statement).first()
    return None if row is None else Event(row.id, int(row.tx), row.type, row.created_at, row.data)


# --- Retention --------------------------------------------------------------------------------

_PRUNE = sql("""
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE created_at < :now ORDER BY id LIMIT :batch
)
""")


def prune_events(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to `batch` of the oldest events written before `older_than`."""
    return conn.execute(_PRUNE, {"now": older_than, "batch": batch}).rowcount
