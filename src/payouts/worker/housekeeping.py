"""Chores the workers do beside paying: pruning what is kept only for a while.

Each chore deletes at most a small batch per transaction, so it never holds SQLite's write
lock or PostgreSQL's row locks for long, and it runs between the worker's payment rounds,
at most once per its interval per worker. A chore is a function that gets a connection in
its own transaction and returns how many rows it handled; it keeps running while it
fills whole batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from payouts.config import Settings
from payouts.storage.database import Database
from payouts.worker import retention
from payouts.worker.event_chores import PRUNE_EVERY_SECONDS, prune_old_events

log = logging.getLogger("payouts.worker")

BATCH = 1_000  # rows per chore transaction
MAX_BATCHES_PER_TURN = 20  # a turn never keeps the worker from paying for long


@dataclass
class Chore:
    name: str
    every_seconds: float
    run: Callable[[Connection, int], int]  # (conn, batch size) -> rows handled
    _next_at: float = field(default=0.0)


@dataclass
class Housekeeping:
    db: Database
    chores: list[Chore]

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return any(now >= chore._next_at for chore in self.chores)

    def run_due(self) -> int:
        """Run every chore whose time has come; the rows handled in all."""
        handled = 0
        now = time.monotonic()
        for chore in self.chores:
            if now < chore._next_at:
                continue
            chore._next_at = now + chore.every_seconds
            handled += self._run(chore)
        return handled

    def _run(self, chore: Chore) -> int:
        total = 0
        for _ in range(MAX_BATCHES_PER_TURN):
            with self.db.write() as conn:
                done = chore.run(conn, BATCH)
            total += done
            if done < BATCH:
                break
        if total:
            log.info("housekeeping: %s handled %d rows", chore.name, total)
        return total


def chores_for(settings: Settings) -> list[Chore]:
    """The chores of a worker with these settings."""
    return [
        Chore("prune events", PRUNE_EVERY_SECONDS, prune_old_events(settings.event_retention)),
        Chore(
            "prune idempotency keys",
            retention.PRUNE_EVERY_SECONDS,
            retention.prune_idempotency_keys(settings),
        ),
    ]
