"""A match-day load generator, run as its own process (`python -m bench.burst`, a JSON spec
on stdin) so it does not share an interpreter with the server or the bench.

N resolving clients, each on its own keep-alive connection, take the next challenge from a
shared list and POST its result (each request with its own Idempotency-Key) until the list
is empty; one more client keeps posting small stake requests (1-3 stakes of 1-100 coins,
each player always on the same side) on other open challenges meanwhile. Before the timed
part, each resolving client resolves one warm-up challenge (not counted). A 503 (a locked
SQLite, a restarting PostgreSQL) is retried with the same key after 50 ms, as a client
should; the resolve's latency runs from its first send to its final answer.

Prints one JSON object: resolve latencies (ms), stake latencies (ms) of the stake requests
answered inside the timed window, the window in seconds, and the failures.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TypedDict

RETRIES = 20


@dataclass(frozen=True, slots=True)
class Spec:
    host: str
    port: int
    token: str
    clients: int  # resolving clients; one more places stakes
    warmup: list[int]  # one challenge per resolving client, resolved before the timing
    resolve: list[int]  # the challenges resolved in the timed burst
    stake_targets: list[int]  # open challenges the staking client stakes on
    players: list[int]  # user ids with coins to stake
    result: str = "challenger_won"


class Report(TypedDict):
    seconds: float  # the timed window: first timed resolve sent to the last answered
    resolve_latencies_ms: list[float]
    resolve_failures: list[str]  # resolves not answered 200 (after retrying 503s)
    resolve_retries: int  # 503s retried
    stake_latencies_ms: list[float]  # stake requests answered 201 inside the window
    stake_failures: list[str]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retries: int = 0


class Http:
    """One keep-alive HTTP/1.1 connection; reopened if the server closed it."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: object, key: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self._writer is None or self._writer.is_closing():
                await self.open()
            try:
                return await self._post(path, body, key)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _post(self, path: str, body: object, key: str) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        payload = json.dumps(body).encode()
        self._writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
                f"Idempotency-Key: {key}\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length, close = 0, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self._reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1]), data

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _resolver(http: Http, queue: list[int], result: str, tally: Tally) -> None:
    while queue:
        challenge_id = queue.pop()
        key = f"bench-{uuid.uuid4()}"
        started = time.perf_counter()
        for _ in range(RETRIES):
            status, body = await http.post(
                f"/api/admin/challenges/{challenge_id}/result", {"result": result}, key
            )
            if status != 503:
                break
            tally.retries += 1
            await asyncio.sleep(0.05)
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status != 200:
            tally.failures.append(f"resolve {challenge_id}: {status} {body[:200]!r}")


async def _staker(
    http: Http, targets: list[int], players: list[int], stop: asyncio.Event, tally: Tally
) -> list[float]:
    """Stake requests until `stop`; returns when each answered request was answered."""
    rng = random.Random(7)
    answered_at = []
    while not stop.is_set():
        users = rng.sample(players, k=min(len(players), rng.randint(1, 3)))
        stakes = [
            {
                "userId": user,
                "side": "challenger" if user % 2 else "challenged",
                "amount": rng.randint(1, 100),
            }
            for user in users
        ]
        challenge_id = rng.choice(targets)
        started = time.perf_counter()
        status, body = await http.post(
            f"/api/admin/challenges/{challenge_id}/stakes", {"stakes": stakes}, str(uuid.uuid4())
        )
        answered = time.perf_counter()
        if status == 201:
            tally.latencies_ms.append((answered - started) * 1000)
            answered_at.append(answered)
        else:
            tally.failures.append(f"stakes on {challenge_id}: {status} {body[:200]!r}")
            if status == 503:
                await asyncio.sleep(0.05)
    return answered_at


async def run(spec: Spec) -> Report:
    connections = [Http(spec.host, spec.port, spec.token) for _ in range(spec.clients + 1)]
    await asyncio.gather(*(c.open() for c in connections))
    resolvers, staker = connections[: spec.clients], connections[spec.clients]
    warm = Tally()
    pairs = zip(resolvers, spec.warmup, strict=True)
    await asyncio.gather(*(_resolver(c, [cid], spec.result, warm) for c, cid in pairs))
    queue = list(reversed(spec.resolve))
    resolves, stakes = Tally(), Tally()
    stop = asyncio.Event()
    started = time.perf_counter()
    staking = asyncio.create_task(_staker(staker, spec.stake_targets, spec.players, stop, stakes))
    await asyncio.gather(*(_resolver(c, queue, spec.result, resolves) for c in resolvers))
    ended = time.perf_counter()
    stop.set()
    answered_at = await staking
    in_window = sum(1 for moment in answered_at if moment <= ended)
    for connection in connections:
        connection.close()
    return {
        "seconds": ended - started,
        "resolve_latencies_ms": resolves.latencies_ms,
        "resolve_failures": warm.failures + resolves.failures,
        "resolve_retries": resolves.retries,
        "stake_latencies_ms": stakes.latencies_ms[:in_window],
        "stake_failures": stakes.failures,
    }


def main() -> None:
    spec = Spec(**json.load(sys.stdin))
    json.dump(asyncio.run(run(spec)), sys.stdout)


if __name__ == "__main__":
    main()
