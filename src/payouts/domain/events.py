"""Events as receivers see them: ids, the feed's opaque cursor, the webhook retry schedule.

Pure: no I/O. The storage layer writes and reads the rows; this module names and shapes
them (docs/events.md).
"""

from __future__ import annotations

import base64
import binascii
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from payouts.domain.errors import InvalidInput

EVENT_ID_PREFIX = "evt_"


def event_id(row_id: int) -> str:
    """The event's stable id (the receivers' dedupe key): its row id, which never changes."""
    return f"{EVENT_ID_PREFIX}{row_id}"


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A place in the feed: after the event (tx, id); `at` is when that place was reached
    (epoch seconds), to tell a cursor older than the retention."""

    tx: int
    id: int
    at: int = 0

    def encode(self) -> str:
        raw = f"{self.tx}.{self.id}.{self.at}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            tx, row_id, at = (int(part) for part in raw.split("."))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput(f"after: {text[:40]!r} is not a cursor this feed gave") from None
        if min(tx, row_id, at) < 0:
            raise InvalidInput(f"after: {text[:40]!r} is not a cursor this feed gave")
        return cls(tx, row_id, at)


START = Cursor(0, 0, 0)


RETRY_CAP_SECONDS = 3600.0


def retry_delay(attempt: int, base: float = 5.0, rng: random.Random | None = None) -> timedelta:
    """How long to wait after the `attempt`-th failed POST of a delivery: `base` seconds
    doubled per attempt, capped at 1 h, times a random factor in [0.5, 1) (jitter, so
    endpoints that failed together do not retry together)."""
    return timedelta(seconds=retry_bounds(attempt, base)[1] * (rng or random).uniform(0.5, 1.0))


def retry_bounds(attempt: int, base: float = 5.0) -> tuple[float, float]:
    """The (shortest, longest) wait in seconds after the `attempt`-th failed attempt."""
    longest = min(base * 2 ** max(attempt - 1, 0), RETRY_CAP_SECONDS)
    return longest * 0.5, longest


def is_older_than(cursor: Cursor, now: datetime, retention: timedelta) -> bool:
    return cursor.at > 0 and cursor.at < (now - retention).timestamp()
