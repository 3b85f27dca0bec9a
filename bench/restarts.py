"""Measuring on a shared PostgreSQL server that someone else may restart mid-run: a
measurement that fails while the server restarted is taken again on a fresh copy; any other
failure is a real one and stops the bench."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from bench.backends import Backend

log = logging.getLogger("bench")
T = TypeVar("T")
ATTEMPTS = 3


def surviving_restarts(backend: Backend, what: str, attempt: Callable[[], T]) -> T:
    for tries in range(1, ATTEMPTS + 1):
        epoch = backend.server_epoch()
        try:
            return attempt()
        except Exception:
            if tries == ATTEMPTS or backend.server_epoch() == epoch:
                raise
            log.warning("%s: the database server restarted during %s; taking it again",
                        backend.name, what)  # fmt: skip
    raise AssertionError("unreachable")
