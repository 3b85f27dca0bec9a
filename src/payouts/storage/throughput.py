"""Winners paid per time bucket, read from the ledger: one row per paid entry, so the
ledger is the exact record of when each winner was paid.

The ledger has no index on its time (one more index write per winner on the hot path), but
its ids grow with time: the first id of a window is found by a binary search over the
primary key (a few dozen single-row probes), and the window is then a primary-key range,
grouped in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from payouts.storage.clock import as_utc
from payouts.storage.sql import sql
from payouts.storage.tables import transactions

# The bucket (seconds since the epoch, integer-divided) of each paid row since :first_id.
_BUCKETS = {
    "postgresql": sql("""
SELECT FLOOR(EXTRACT(EPOCH FROM created_at) / :bucket)::bigint AS bucket, COUNT(*) AS paid
FROM transactions
WHERE id >= :first_id AND type IN ('challenge_payout', 'challenge_refund')
GROUP BY 1
"""),
    "sqlite": sql("""
SELECT CAST(strftime('%s', created_at) AS INTEGER) / :bucket AS bucket, COUNT(*) AS paid
FROM transactions
WHERE id >= :first_id AND type IN ('challenge_payout', 'challenge_refund')
GROUP BY 1
"""),
}


def first_id_at_or_after(conn: Connection, moment: datetime) -> int | None:
    """An id from which on every ledger row was written at or after `moment` (ids grow with
    time), by binary search over the primary key; None if no row is that recent."""
    t = transactions.c
    low, high = conn.execute(select(func.min(t.id), func.max(t.id))).one()
    if high is None:
        return None

    def written_from(at_least: int) -> datetime:
        """When the first row with an id of at least `at_least` was written."""
        at = conn.execute(
            select(t.created_at).where(t.id >= at_least).order_by(t.id).limit(1)
        ).scalar_one()
        return as_utc(at)

    target = as_utc(moment)
    if written_from(high) < target:
        return None
    while low < high:
        middle = (low + high) // 2
        if written_from(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return int(low)


def paid_per_bucket(conn: Connection, since: datetime, bucket_seconds: int) -> dict[int, int]:
    """bucket number (epoch seconds // bucket_seconds) -> winners paid in it, since `since`
    (the bucket that holds `since` may be partial)."""
    first = first_id_at_or_after(conn, since)
    if first is None:
        return {}
    statement = _BUCKETS["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    rows = conn.execute(statement, {"bucket": bucket_seconds, "first_id": first})
    # Ids follow time only roughly (concurrent batches): drop what the range caught early.
    oldest = int(as_utc(since).timestamp()) // bucket_seconds
    return {int(row.bucket): int(row.paid) for row in rows if int(row.bucket) >= oldest}
