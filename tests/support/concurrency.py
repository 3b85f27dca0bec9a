"""Requests sent at the same moment from several threads."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx


def concurrently(
    count: int, send: Callable[[], httpx.Response]
) -> list[httpx.Response | BaseException]:
    """`send()` from `count` threads released together; each result or exception."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException] = [None] * count  # type: ignore[list-item]

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = send()
        except BaseException as exc:  # reported by the caller's assertions
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
