"""What the service keeps only for a while, as housekeeping chores (worker/housekeeping.py).

- Idempotency keys: kept PAYOUTS_IDEMPOTENCY_RETENTION (default 24 h, as common payment
  APIs do); a retry after that is a new request.
- The audit log is never pruned: it is the record (export it with `payouts audit-log`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection

from payouts.config import Settings
from payouts.services import idempotency
from payouts.storage.clock import utcnow

PRUNE_EVERY_SECONDS = 60.0


def prune_idempotency_keys(settings: Settings) -> Callable[[Connection, int], int]:
    """The chore that deletes the keys older than the retention, a batch at a time."""
    keep = timedelta(seconds=settings.idempotency_retention_seconds)

    def run(conn: Connection, batch: int) -> int:
        return idempotency.prune(conn, utcnow() - keep, batch)

    return run
