"""The event outbox: writing events in the transaction of what they report, and reading
them back as a feed that never skips or repeats (docs/events.md).

Money events (payout.paid, refund.paid) are written by the pay statements themselves,
from the ledger rows they insert (slices.py, small_jobs.py, entries.py); this module writes
the rarer ones (job transitions, resolutions) and reads the feed.

PostgreSQL: an identity value is taken before commit, so a transaction that commits late
can leave a smaller id behind a larger one already read. Each row therefore carries its
writer's transaction id (`tx`), and the feed serves only rows whose transaction is below
the horizon (PG_HORIZON: every transaction of this database below it has ended, so its
rows are all visible, or rolled back), in (tx, id) order. Transaction ids are handed out
in increasing order, so a transaction that ends later always has a larger tx than every
row served.
SQLite: one writer at a time, so id order is commit order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Uuid, bindparam, insert, literal_column, text

from payouts.domain.events import Cursor, event_id
from payouts.storage.clock import iso_utc, utcnow
from payouts.storage.sql import sql
from payouts.storage.tables import events, payout_jobs

# The writing transaction's id, as a BIGINT (xid8 has 64 bits and never wraps).
PG_TX = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
# A job transition's tx: its writer's id, or the highest tx already committed if that is
# higher. Two workers paying one job each hold an id; the one that took the smaller id can
# be the one that completes the job, after the other committed its payments with the
# larger id. Sorting job.completed by its own id would put it before those payments.
# Serving is unchanged: a row is served only when its tx is below the horizon, and its
# writer's id is at most its tx, so the writer has ended by then (docs/events.md).
PG_TX_AFTER_COMMITTED = f"greatest({PG_TX}, (SELECT max(tx) FROM events))"
# The feed's horizon: every transaction of this database with an id below it had ended when
# the statement's snapshot was taken, so its rows are all visible (or rolled back). It is the
# snapshot's xmax, or its oldest in-progress transaction if lower, except those running in
# another database of the server (a transaction writes to one database only), so another
# database's long transaction does not hold this feed back. pg_stat_activity is read after
# the snapshot: a transaction in the snapshot's in-progress list that shows there as another
# database's is; one that has ended meanwhile, or cannot be told, counts as ours (waits).
PG_HORIZON = """(SELECT least(
    CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text) AS bigint),
    (SELECT min(CAST(CAST(x AS text) AS bigint))
     FROM pg_snapshot_xip(pg_current_snapshot()) AS x
     WHERE CAST(CAST(x AS text) AS bigint) % 4294967296 NOT IN (
         SELECT CAST(CAST(a.backend_xid AS text) AS bigint) FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL AND a.datname <> current_database()))))"""


def insert_events(
    conn: Connection,
    rows: Sequence[tuple[str, dict[str, Any]]],
    *,
    after_committed: bool = False,
) -> None:
    """Write (type, data) events in the caller's transaction. On PostgreSQL the writing
    transaction's id is taken by the INSERT itself (no round trip of its own);
    `after_committed` sorts them after every event committed so far as well."""
    if not rows:
        return
    statement = insert(events)
    if conn.dialect.name == "postgresql":
        tx = PG_TX_AFTER_COMMITTED if after_committed else PG_TX
        statement = statement.values(tx=literal_column(tx))
    now = utcnow()
    conn.execute(
        statement, [{"type": kind, "created_at": now, "data": data} for kind, data in rows]
    )


# --- Money events -----------------------------------------------------------------------------
#
# One event per payout or refund ledger row; the event's data is read from that row.
_MONEY_EVENT_TYPE = "CASE type WHEN 'challenge_payout' THEN 'payout.paid' ELSE 'refund.paid' END"

# PostgreSQL: each pay statement (slices.py, small_jobs.py, entries.py) writes its events
# itself, with this CTE over its `ledger` CTE's RETURNING id, type.
PAID_EVENTS_POSTGRES = f"""paid_events AS (
    -- the outbox: one event per ledger row, in this statement (docs/events.md)
    INSERT INTO events (type, tx, created_at, transaction_id)
    SELECT {_MONEY_EVENT_TYPE}, (SELECT {PG_TX}), now(), id
    FROM ledger
    ORDER BY id
)"""

# SQLite: under the one write lock, the ledger rows a batch wrote are exactly those above the
# ledger's highest id before it: one more INSERT ... SELECT.
_LEDGER_MARK = sql("SELECT COALESCE(max(id), 0) FROM transactions")

_EVENTS_FROM_LEDGER_SQLITE = sql(f"""
INSERT INTO events (type, tx, created_at, transaction_id)
SELECT {_MONEY_EVENT_TYPE}, NULL, created_at, id
FROM transactions
WHERE id > :ledger_before AND payout_entry_id IS NOT NULL
ORDER BY id
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


# PostgreSQL: the job.* events of the settled jobs among :job_ids in one statement, their
# data built by the database (job_data's shape; a test holds the two equal), so settling a
# batch of small jobs costs one round trip more, not a read, a round trip and JSON in Python.
# iso_utc() in SQL: milliseconds, truncated as Python's isoformat does (colons escaped
# from text()'s bind syntax).
_ISO_UTC = r"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24\:MI\:SS.MS"Z"')"""
_JOB_TRANSITIONS_POSTGRES = sql(f"""
INSERT INTO events (type, tx, created_at, data)
SELECT 'job.' || j.status, {PG_TX_AFTER_COMMITTED}, :now, json_build_object(
    'jobId', CAST(j.id AS text),
    'challengeId', j.challenge_id,
    'kind', j.kind,
    'status', j.status,
    'totalWinners', j.total_winners,
    'processedWinners', j.processed_winners,
    'failedWinners', j.failed_winners,
    'progressPercent', CASE WHEN j.total_winners > 0
                            THEN 100 * j.processed_winners / j.total_winners ELSE 100 END,
    'createdAt', {_ISO_UTC.format(column="j.created_at")},
    'completedAt', {_ISO_UTC.format(column="j.completed_at")},
    'error', j.error)
FROM payout_jobs j
WHERE j.id IN :job_ids AND j.status IN ('completed', 'failed')
ORDER BY j.id
""")


def record_job_transitions(conn: Connection, job_ids: Iterable[uuid.UUID]) -> None:
    """job.completed / job.failed for each of these jobs that has settled, as it is now in
    this transaction (called by every path that settles a job, in its transaction). They
    come in the feed after every payment of their job, whichever worker committed it."""
    ids = sorted(set(job_ids))
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_JOB_TRANSITIONS_POSTGRES, {"job_ids": ids, "now": utcnow()})
        return
    j = payout_jobs.c
    jobs = conn.execute(
        payout_jobs.select()
        .where(j.id.in_(ids), j.status.in_(("completed", "failed")))
        .order_by(j.id)
    ).mappings()
    settled = [(f"job.{job['status']}", job_data(job)) for job in jobs]
    insert_events(conn, settled, after_committed=True)


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


# A money event's data is its ledger row's, with its job (one per challenge).
_COLUMNS = """e.id, COALESCE(e.tx, 0) AS tx, e.type, e.created_at, e.data,
       t.id AS transaction_id, t.user_id, t.amount, t.challenge_id, j.id AS job_id"""
_FROM = """events e
LEFT JOIN transactions t ON t.id = e.transaction_id
LEFT JOIN payout_jobs j ON j.challenge_id = t.challenge_id"""
_READ_POSTGRES = f"""
SELECT {_COLUMNS} FROM {_FROM}
WHERE (e.tx, e.id) > (:tx, :id) AND e.tx < {PG_HORIZON} {{types}}
ORDER BY e.tx, e.id
LIMIT :limit
"""
_READ_SQLITE = f"""
SELECT {_COLUMNS} FROM {_FROM}
WHERE e.id > :id {{types}}
ORDER BY e.id
LIMIT :limit
"""


def _event(row: Any) -> Event:
    data = row.data
    if data is None:  # a money event: its ledger row says it all
        data = {
            "userId": row.user_id,
            "amount": row.amount,
            "challengeId": row.challenge_id,
            "jobId": str(row.job_id),
            "transactionId": row.transaction_id,
        }
    return Event(row.id, int(row.tx), row.type, row.created_at, data)


def _typed(clause: Any) -> Any:
    return clause.columns(
        created_at=events.c.created_at.type, data=events.c.data.type, job_id=Uuid()
    )


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
        where += " AND e.type IN :types"
        params["types"] = list(types)
    if through is not None:
        where += (
            " AND (e.tx, e.id) <= (:through_tx, :through_id)"
            if postgres
            else " AND e.id <= :through_id"
        )
        params.update(through_tx=through.tx, through_id=through.id)
    clause = text((_READ_POSTGRES if postgres else _READ_SQLITE).format(types=where))
    if types:
        clause = clause.bindparams(bindparam("types", expanding=True))
    return [_event(row) for row in conn.execute(_typed(clause), params)]


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
        f"WHERE e.tx < {PG_HORIZON} ORDER BY e.tx DESC, e.id DESC"
        if postgres
        else "ORDER BY e.id DESC"
    )
    row = conn.execute(_typed(text(f"SELECT {_COLUMNS} FROM {_FROM} {where} LIMIT 1"))).first()
    return None if row is None else _event(row)


# --- Retention --------------------------------------------------------------------------------

_PRUNE = sql("""
DELETE FROM events WHERE id IN (
    SELECT id FROM events WHERE created_at < :now ORDER BY id LIMIT :batch
)
""")


def prune_events(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to `batch` of the oldest events written before `older_than`."""
    return conn.execute(_PRUNE, {"now": older_than, "batch": batch}).rowcount
