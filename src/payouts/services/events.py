"""The event feed as consumers read it: a page of events after an opaque cursor, and the
cursor to pass next time (docs/events.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection

from payouts.domain.errors import Gone, InvalidInput
from payouts.domain.events import START, Cursor, is_older_than
from payouts.domain.vocabulary import EVENT_TYPES
from payouts.storage.clock import utcnow
from payouts.storage.events import Event, read_events

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Event]
    next: Cursor


def parse_types(text: str | None) -> list[str] | None:
    """ "payout.paid,job.failed" -> the types; None (every type) when empty."""
    if not text or not text.strip():
        return None
    types = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in types if kind not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"types: unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(types))


def read_page(
    conn: Connection,
    after: str | None,
    limit: int,
    types: Sequence[str] | None,
    retention: timedelta,
) -> Page:
    """Up to `limit` events after the cursor (from the oldest kept when None), oldest first.
    A cursor older than the retention is refused (Gone): events after it may be pruned."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: 1 to {MAX_LIMIT}, not {limit}")
    cursor = START if after is None or after == "" else Cursor.decode(after)
    now = utcnow()
    if is_older_than(cursor, now, retention):
        raise Gone(
            "after: this cursor is older than the event retention"
            f" ({retention.days} days); events after it may have been pruned. Start again"
            " without `after` (from the oldest kept event)"
        )
    found = read_events(conn, cursor, limit, types)
    if found:
        return Page(found, found[-1].cursor)
    # Caught up: the same place, reached now.
    return Page([], Cursor(cursor.tx, cursor.id, int(now.timestamp())))
