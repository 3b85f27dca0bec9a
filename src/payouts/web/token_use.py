"""When each stored token was last used, written at most once a minute per token, off the
request's path: a request only looks at a dict; a due write is queued to one background
thread, which writes all queued tokens in one short transaction. So `tokens list` is right
to about a minute, and no request waits for a write (or SQLite's write lock) because of it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.exc import SQLAlchemyError

from payouts.services import tokens
from payouts.storage.clock import utcnow
from payouts.storage.database import Database

log = logging.getLogger("payouts.api")

EVERY_SECONDS = 60.0
MAX_TOKENS = 10_000


class TokenUse:
    def __init__(self, db: Database, every_seconds: float = EVERY_SECONDS) -> None:
        self.db = db
        self.every_seconds = every_seconds
        self._written: dict[str, float] = {}  # token hash -> when its use was last queued
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future[None] | None = None

    def seen(self, token_hash: str) -> None:
        """A request used this stored token (and it was live)."""
        now = time.monotonic()
        last = self._written.get(token_hash)
        if last is not None and now - last < self.every_seconds:
            return  # the hot path: one dict lookup
        with self._lock:
            if len(self._written) >= MAX_TOKENS:
                self._written.clear()
            self._written[token_hash] = now
            self._pending.add(token_hash)
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="token-use")
            self._last = self._executor.submit(self._write)

    def _write(self) -> None:
        with self._lock:
            pending, self._pending = sorted(self._pending), set()
        if not pending:
            return
        try:
            with self.db.write() as conn:
                tokens.record_use(conn, pending, utcnow())
        except SQLAlchemyError as exc:  # a lost "last used" is not worth failing anything
            log.warning("could not record the last use of %d token(s): %s", len(pending), exc)

    def wait(self) -> None:
        """Until the queued writes are done (tests, shutdown)."""
        last = self._last
        if last is not None:
            last.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
