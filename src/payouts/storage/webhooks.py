"""Webhook endpoints and their deliveries (docs/events.md).

An endpoint reads the event feed from its own cursor. A worker claims an endpoint with a
lease (a short transaction: FOR UPDATE SKIP LOCKED on PostgreSQL, so two workers never
take the same endpoint; BEGIN IMMEDIATE on SQLite), opens its next delivery (the oldest
pending one that is due, else the next batch of events after the cursor, which moves the
cursor past them), commits, POSTs outside any transaction, then records the answer. One
pending delivery at a time per endpoint keeps the events in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from payouts.domain.events import Cursor
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.events import PG_HORIZON, Event, backlog, latest_cursor, read_events
from payouts.storage.sql import TIMESTAMP, sql
from payouts.storage.tables import webhook_deliveries, webhook_endpoints

_E = webhook_endpoints.c
_D = webhook_deliveries.c


# --- Endpoints ------------------------------------------------------------------------------


def create_endpoint(
    conn: Connection,
    url: str,
    description: str | None,
    types: Sequence[str] | None,
    secret: str,
) -> int:
    """A new endpoint; it gets the events committed from now on."""
    start = latest_cursor(conn)
    endpoint_id: int = conn.execute(
        insert(webhook_endpoints)
        .values(
            url=url,
            description=description,
            event_types=",".join(types) if types else None,
            secret=secret,
            enabled=True,
            cursor_tx=start.tx,
            cursor_id=start.id,
            created_at=utcnow(),
        )
        .returning(_E.id)
    ).scalar_one()
    return endpoint_id


def endpoint_with_url(conn: Connection, url: str) -> int | None:
    found: int | None = conn.execute(select(_E.id).where(_E.url == url)).scalar_one_or_none()
    return found


def get_endpoint(conn: Connection, endpoint_id: int) -> RowMapping | None:
    return conn.execute(select(webhook_endpoints).where(_E.id == endpoint_id)).mappings().first()


def list_endpoints(conn: Connection) -> list[RowMapping]:
    return list(conn.execute(select(webhook_endpoints).order_by(_E.id)).mappings())


def delivery_counts(conn: Connection, endpoint_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(_D.status, func.count())
        .where(_D.endpoint_id == endpoint_id, _D.status.in_(("pending", "failed")))
        .group_by(_D.status)
    )
    return {status: count for status, count in rows}


def delete_endpoint(conn: Connection, endpoint_id: int) -> bool:
    conn.execute(delete(webhook_deliveries).where(_D.endpoint_id == endpoint_id))
    return conn.execute(delete(webhook_endpoints).where(_E.id == endpoint_id)).rowcount == 1


def set_enabled(conn: Connection, endpoint_id: int, enabled: bool, reason: str | None) -> bool:
    values: dict[str, Any] = {"enabled": enabled, "disabled_reason": None if enabled else reason}
    if enabled:
        values.update(failing_since=None)
    changed = conn.execute(update(webhook_endpoints).where(_E.id == endpoint_id).values(**values))
    return changed.rowcount == 1


def types_of(endpoint: RowMapping) -> list[str] | None:
    return endpoint["event_types"].split(",") if endpoint["event_types"] else None


def cursor_of(endpoint: RowMapping) -> Cursor:
    return Cursor(endpoint["cursor_tx"], endpoint["cursor_id"])


# --- Deliveries -----------------------------------------------------------------------------


def list_deliveries(
    conn: Connection, endpoint_id: int, status: str | None = None, limit: int = 50
) -> list[RowMapping]:
    query = select(webhook_deliveries).where(_D.endpoint_id == endpoint_id)
    if status:
        query = query.where(_D.status == status)
    return list(conn.execute(query.order_by(_D.id.desc()).limit(limit)).mappings())


def get_delivery(conn: Connection, delivery_id: int) -> RowMapping | None:
    return conn.execute(select(webhook_deliveries).where(_D.id == delivery_id)).mappings().first()


def resend(conn: Connection, delivery_id: int) -> bool:
    """A failed delivery, pending again from its first attempt."""
    changed = conn.execute(
        update(webhook_deliveries)
        .where(_D.id == delivery_id, _D.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
    )
    return changed.rowcount == 1


# Claiming: an enabled endpoint nobody holds, with a pending delivery that is due, or with
# no pending delivery and committed events after its cursor.
_CLAIMABLE = """
SELECT id FROM webhook_endpoints ep
WHERE enabled AND (leased_until IS NULL OR leased_until < :now)
  AND (EXISTS (SELECT 1 FROM webhook_deliveries d
               WHERE d.endpoint_id = ep.id AND d.status = 'pending'
                 AND d.next_attempt_at <= :now)
       OR (NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                       WHERE d.endpoint_id = ep.id AND d.status = 'pending')
           AND EXISTS ({newer})))
ORDER BY COALESCE(leased_until, created_at), id
LIMIT 1
"""
_NEWER_POSTGRES = (
    "SELECT 1 FROM events e WHERE (e.tx, e.id) > (ep.cursor_tx, ep.cursor_id)"
    f" AND e.tx < {PG_HORIZON}"
)
_NEWER_SQLITE = "SELECT 1 FROM events e WHERE e.id > ep.cursor_id"
_CLAIM = """
UPDATE webhook_endpoints SET leased_until = :until, lease_owner = :owner
WHERE id = ({claimable})
RETURNING *
"""


_PAYING = sql("""
SELECT EXISTS (SELECT 1 FROM payout_jobs WHERE status IN ('queued', 'running'))
""")


def payouts_in_progress(conn: Connection) -> bool:
    """Is any payout job queued or running? (deliveries then leave the CPU to payouts)"""
    return bool(conn.execute(_PAYING).scalar_one())


def relaxed_commit(conn: Connection) -> None:
    """PostgreSQL: this transaction's commit does not wait for the WAL flush. For the
    deliveries' bookkeeping only: a crash may lose its last moments, and then a delivery is
    sent again (at least once), never lost, since the events themselves are not touched."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))


def anything_due(conn: Connection) -> bool:
    """Is some endpoint claimable now? (a read, before taking a write transaction)"""
    postgres = conn.dialect.name == "postgresql"
    claimable = _CLAIMABLE.format(newer=_NEWER_POSTGRES if postgres else _NEWER_SQLITE)
    statement = text(claimable).bindparams(bindparam("now", type_=TIMESTAMP))
    return conn.execute(statement, {"now": utcnow()}).first() is not None


def claim_endpoint(conn: Connection, owner: str, lease: timedelta) -> RowMapping | None:
    """Lease the endpoint that has waited longest and has something to send."""
    postgres = conn.dialect.name == "postgresql"
    claimable = _CLAIMABLE.format(newer=_NEWER_POSTGRES if postgres else _NEWER_SQLITE)
    if postgres:
        claimable = claimable.strip() + "\nFOR UPDATE SKIP LOCKED"
    now = utcnow()
    statement = text(_CLAIM.format(claimable=claimable)).bindparams(
        *(bindparam(name, type_=TIMESTAMP) for name in ("now", "until"))
    )
    return (
        conn.execute(statement, {"now": now, "until": now + lease, "owner": owner})
        .mappings()
        .first()
    )


@dataclass(frozen=True, slots=True)
class OpenDelivery:
    id: int
    endpoint_id: int
    attempts: int  # before this one
    events: list[Event]


def open_delivery(conn: Connection, endpoint: RowMapping, batch: int) -> OpenDelivery | None:
    """The endpoint's next POST: its oldest due pending delivery, else a new one with the
    next `batch` events after its cursor (moving the cursor past them)."""
    types = types_of(endpoint)
    pending = (
        conn.execute(
            select(webhook_deliveries)
            .where(
                _D.endpoint_id == endpoint["id"],
                _D.status == "pending",
                _D.next_attempt_at <= utcnow(),
            )
            .order_by(_D.id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    if pending is not None:
        found = read_events(
            conn,
            Cursor(pending["after_tx"], pending["after_id"]),
            max(pending["event_count"], 1),
            types,
            through=Cursor(pending["through_tx"], pending["through_id"]),
        )
        return OpenDelivery(pending["id"], endpoint["id"], pending["attempts"], found)
    cursor = cursor_of(endpoint)
    found = read_events(conn, cursor, batch, types)
    if not found:
        # Only events of other types: move past them (every event up to the newest
        # committed one is visible to this transaction).
        newest = latest_cursor(conn)
        if (newest.tx, newest.id) > (cursor.tx, cursor.id):
            _move_cursor(conn, endpoint["id"], newest)
        return None
    through = found[-1].cursor
    now = utcnow()
    delivery_id: int = conn.execute(
        insert(webhook_deliveries)
        .values(
            endpoint_id=endpoint["id"],
            status="pending",
            after_tx=cursor.tx,
            after_id=cursor.id,
            through_tx=through.tx,
            through_id=through.id,
            event_count=len(found),
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(_D.id)
    ).scalar_one()
    _move_cursor(conn, endpoint["id"], through)
    return OpenDelivery(delivery_id, endpoint["id"], 0, found)


def _move_cursor(conn: Connection, endpoint_id: int, cursor: Cursor) -> None:
    conn.execute(
        update(webhook_endpoints)
        .where(_E.id == endpoint_id)
        .values(cursor_tx=cursor.tx, cursor_id=cursor.id)
    )


def release(conn: Connection, endpoint_id: int, owner: str) -> None:
    conn.execute(
        update(webhook_endpoints)
        .where(_E.id == endpoint_id, _E.lease_owner == owner)
        .values(leased_until=None, lease_owner=None)
    )


def delivered(conn: Connection, delivery: OpenDelivery, owner: str) -> None:
    now = utcnow()
    conn.execute(
        update(webhook_deliveries)
        .where(_D.id == delivery.id)
        .values(
            status="delivered",
            attempts=delivery.attempts + 1,
            delivered_at=now,
            last_error=None,
            next_attempt_at=now,
        )
    )
    conn.execute(
        update(webhook_endpoints)
        .where(_E.id == delivery.endpoint_id)
        .values(last_success_at=now, failing_since=None, last_error=None)
    )
    release(conn, delivery.endpoint_id, owner)


def attempt_failed(
    conn: Connection,
    delivery: OpenDelivery,
    owner: str,
    error: str,
    retry_at: datetime,
    max_attempts: int,
    disable_after: timedelta,
) -> tuple[bool, bool]:
    """Record a failed POST: retried at `retry_at`, or failed at max_attempts; the endpoint
    is disabled when it has failed for `disable_after`. (delivery failed, endpoint disabled)"""
    now = utcnow()
    attempts = delivery.attempts + 1
    gave_up = attempts >= max_attempts
    conn.execute(
        update(webhook_deliveries)
        .where(_D.id == delivery.id)
        .values(
            status="failed" if gave_up else "pending",
            attempts=attempts,
            last_error=error[:1000],
            next_attempt_at=retry_at,
        )
    )
    endpoint = get_endpoint(conn, delivery.endpoint_id)
    failing_since: datetime = (endpoint["failing_since"] if endpoint else None) or now
    disable = as_utc(failing_since) <= now - disable_after
    conn.execute(
        update(webhook_endpoints)
        .where(_E.id == delivery.endpoint_id)
        .values(
            failing_since=failing_since,
            last_error=error[:1000],
            **(
                {
                    "enabled": False,
                    "disabled_reason": f"disabled: every delivery failed for {disable_after}"
                    f" (last error: {error[:200]})",
                }
                if disable
                else {}
            ),
        )
    )
    release(conn, delivery.endpoint_id, owner)
    return gave_up, disable


def backlog_of(conn: Connection, endpoint: RowMapping) -> int:
    """Events after the endpoint's cursor (of its types), not handed to a delivery yet."""
    return backlog(conn, cursor_of(endpoint), types_of(endpoint))


def prune_deliveries(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to `batch` delivered deliveries created before `older_than`."""
    old = (
        select(_D.id)
        .where(_D.status == "delivered", _D.created_at < older_than)
        .order_by(_D.id)
        .limit(batch)
    )
    return conn.execute(delete(webhook_deliveries).where(_D.id.in_(old))).rowcount
