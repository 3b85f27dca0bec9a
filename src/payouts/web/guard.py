"""Failed sign-ins, limited per client address: a guessing client is shut out for a while.

Every answer 401 to a request that presented a credential (a wrong, revoked or expired
token on the API, a dead admin UI session, a refused sign-in) counts as one failure of the
client's address. A request with no credential at all (a page opened before signing in)
guesses nothing and is not counted. After `per_minute` failures
within a minute, every request from that address to the API or the admin UI gets 429 with
`Retry-After` until its cool-down ends, whatever token it carries; the cool-down doubles
with each new block of the same address (1, 2, 4 ... minutes, at most an hour), and is
forgotten after an hour without a failure. Other addresses are not affected.

The counts live in this process's memory: with several server processes each counts its
own (an attacker gets per_minute x processes guesses a minute), and a restart forgets them.

The client's address is the connection's peer, unless that peer is one of the trusted
proxies (PAYOUTS_TRUSTED_PROXIES, none by default): then it is the last address in
X-Forwarded-For that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payouts.services import audit
from payouts.storage.database import Database
from payouts.web.cookie import COOKIE_NAME

log = logging.getLogger("payouts.api")

WINDOW_SECONDS = 60.0
FIRST_COOL_DOWN_SECONDS = 60.0
MAX_COOL_DOWN_SECONDS = 3600.0
FORGET_AFTER_SECONDS = 3600.0  # an address with no failure for this long starts afresh
MAX_ADDRESSES = 100_000  # beyond this, addresses with nothing pending are dropped
GUARDED_PREFIXES = ("/api/", "/admin")
UNGUARDED_PREFIXES = ("/admin/static/",)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """ "10.0.0.1, 10.1.0.0/16" -> networks; "" -> none. A bad entry raises ValueError."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()
    )


def _is_in(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The address a request is counted against (see the module's docstring)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _is_in(peer, trusted):
        return peer
    forwarded: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded += [part.strip() for part in value.decode("latin-1").split(",")]
    for hop in reversed([part for part in forwarded if part]):
        if not _is_in(hop, trusted):
            return hop[:64]
    return peer


@dataclass
class _Address:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    blocks: int = 0  # how many times this address was blocked (the cool-down doubles)
    last_failure: float = 0.0


class AuthFailureLimiter:
    """Failures per address in a sliding minute, and the cool-downs they earn."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._addresses: dict[str, _Address] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may try again; 0: it may now."""
        with self._lock:
            state = self._addresses.get(address)
            if state is None:
                return 0
            left = state.blocked_until - self.clock()
            return math.ceil(left) if left > 0 else 0

    def failed(self, address: str) -> int:
        """Count a failure; the cool-down in seconds if it blocks the address now, else 0."""
        now = self.clock()
        with self._lock:
            state = self._addresses.get(address)
            if state is None or now - state.last_failure > FORGET_AFTER_SECONDS:
                if len(self._addresses) >= MAX_ADDRESSES:
                    self._drop_idle(now)
                state = self._addresses[address] = _Address()
            state.last_failure = now
            state.failures.append(now)
            while state.failures and state.failures[0] <= now - WINDOW_SECONDS:
                state.failures.popleft()
            if len(state.failures) < self.per_minute or state.blocked_until > now:
                return 0
            cool_down = min(
                MAX_COOL_DOWN_SECONDS, FIRST_COOL_DOWN_SECONDS * (1 << min(state.blocks, 16))
            )
            state.blocks += 1
            state.blocked_until = now + cool_down
            state.failures.clear()
            return math.ceil(cool_down)

    def _drop_idle(self, now: float) -> None:
        for address in [a for a, s in self._addresses.items() if s.blocked_until <= now]:
            del self._addresses[address]


HtmlRefusal = Callable[[Request, int], Response]


class AuthGuard:
    """ASGI middleware: counts the 401s of each address and answers 429 to a blocked one.
    It runs inside the audit middleware, which records a refused state-changing request;
    this one records the 429s of the other requests (reads) itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: AuthFailureLimiter,
        trusted: tuple[Network, ...],
        db: Database,
        html_refusal: HtmlRefusal | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted = trusted
        self.db = db
        self.html_refusal = html_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(GUARDED_PREFIXES) or path.startswith(UNGUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        address = client_address(scope, self.trusted)
        scope.setdefault("state", {})["client_address"] = address  # for the audit log
        wait = self.limiter.retry_after(address)
        if wait:
            await self._refuse(scope, receive, send, address, wait)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 401 and presents_credential(scope):
            blocked_for = self.limiter.failed(address)
            if blocked_for:
                log.warning(
                    "%s: %d failed authentications within a minute; refused for %d s",
                    address,
                    self.limiter.per_minute,
                    blocked_for,
                )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, address: str, wait: int
    ) -> None:
        message = f"too many failed authentications from {address}; wait {wait} s and try again"
        headers = {"Retry-After": str(wait)}
        if path_is_ui(scope) and self.html_refusal is not None:
            response = self.html_refusal(Request(scope, receive), wait)
            response.status_code = 429
            response.headers.update(headers)
        else:
            response = Response(
                json.dumps({"message": message}),
                status_code=429,
                headers=headers,
                media_type="application/json",
            )
        await response(scope, receive, send)
        if scope["method"] not in STATE_CHANGING:  # the audit middleware records the others
            try:
                await run_in_threadpool(self._record, scope, address, message)
            except Exception:
                log.exception("could not write the audit row of a 429 to %s", address)

    def _record(self, scope: Scope, address: str, message: str) -> None:
        with self.db.write() as conn:
            audit.record(
                conn,
                actor="unauthenticated",
                action=f"{scope['method']} {scope['path']}"[:64],
                target=None,
                client=address,
                status_code=429,
                outcome=message,
            )


def presents_credential(scope: Scope) -> bool:
    """An Authorization header, the admin UI's session cookie, or a sign-in form."""
    if scope.get("method") == "POST" and scope.get("path") == "/admin/login":
        return True
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return True
        if name == b"cookie" and COOKIE_NAME.encode() + b"=" in value:
            return True
    return False


def path_is_ui(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith("/admin")
