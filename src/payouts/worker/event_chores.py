"""The events' housekeeping: events older than PAYOUTS_EVENT_RETENTION are pruned, and so
are the webhook deliveries delivered before it, a small batch per transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection

from payouts.storage.clock import utcnow
from payouts.storage.events import prune_events
from payouts.storage.webhooks import prune_deliveries

PRUNE_EVERY_SECONDS = 60.0


def prune_old_events(retention: timedelta) -> Callable[[Connection, int], int]:
    def prune(conn: Connection, batch: int) -> int:
        cutoff = utcnow() - retention
        return prune_events(conn, cutoff, batch) + prune_deliveries(conn, cutoff, batch)

    return prune
