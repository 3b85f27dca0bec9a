"""Shared request plumbing: the database, the caller (a principal: name and role), ids."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from payouts.config import Settings
from payouts.domain.errors import Forbidden, NotFound, Unauthorized
from payouts.domain.vocabulary import MAX_ID
from payouts.services import tokens
from payouts.storage.database import Database
from payouts.web import cookie
from payouts.web.token_use import TokenUse


class WorkNotifier(Protocol):
    """What a request that queued work calls after its commit: the app wires it to the
    embedded worker's wake-up (web never imports the worker)."""

    def notify(self) -> None: ...


ENV_TOKEN_NAME = "env-token"  # who the audit log says acted with PAYOUTS_ADMIN_TOKEN


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name (or "env-token") and its role."""

    name: str
    role: str
    # A stored token taken on trust from LiveTokens: the hash the action's own transaction
    # must find live before it changes anything (AdminAction does).
    recheck: str | None = None


class LiveTokens:
    """Stored admin tokens lately found live, by hash. Only a hint for write requests: the
    action checks the token again as the first statement of its own transaction, so a
    revoked token is refused at once, and no request needs a transaction of its own just
    to read the token. Reads always look the token up."""

    MAX_TOKENS = 1024

    def __init__(self) -> None:
        self._seen: dict[str, Principal] = {}

    def get(self, token_hash: str) -> Principal | None:
        return self._seen.get(token_hash)

    def remember(self, token_hash: str, principal: Principal) -> None:
        if len(self._seen) >= self.MAX_TOKENS:
            self._seen.clear()
        self._seen[token_hash] = principal

    def forget(self, token_hash: str) -> None:
        self._seen.pop(token_hash, None)


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in the
# thread pool, a thread hop per dependency per request.


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_wakeup(request: Request) -> WorkNotifier:
    wakeup: WorkNotifier = request.app.state.wakeup
    return wakeup


Db = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Wake = Annotated[WorkNotifier, Depends(get_wakeup)]


def token_principal(token: str, db: Database, settings: Settings) -> Principal | None:
    """Who a live token is: the env token (compared in constant time) or a stored one."""
    if is_env_token(token, settings):
        return Principal(ENV_TOKEN_NAME, "admin")
    return stored_principal(db, tokens.hash_token(token))


def is_env_token(token: str, settings: Settings) -> bool:
    return bool(settings.admin_token) and hmac.compare_digest(
        token.encode(), (settings.admin_token or "").encode()
    )


def stored_principal(db: Database, token_hash: str) -> Principal | None:
    with db.read() as conn:
        found = tokens.identify_hash(conn, token_hash)
    return None if found is None else Principal(*found)


def token_role(token: str, db: Database, settings: Settings) -> str | None:
    principal = token_principal(token, db, settings)
    return None if principal is None else principal.role


def presented_token(request: Request) -> str:
    """The bearer token of the request (or, on reads, the admin UI's session cookie)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:  # the admin UI's session cookie, accepted on reads only
        scheme, token = "bearer", cookie.read_only_session_token(request) or ""
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing admin token: send 'Authorization: Bearer <token>'")
    return token


async def caller(request: Request, db: Db, settings: AppSettings) -> Principal:
    token = presented_token(request)
    principal = await run_in_threadpool(token_principal, token, db, settings)
    if principal is None:
        raise Unauthorized("invalid or revoked admin token")
    if not is_env_token(token, settings):
        note_use(request, tokens.hash_token(token))
    request.state.principal = principal  # for the audit log, also when the role is refused
    return principal


async def writer(request: Request, db: Database, settings: Settings) -> Principal:
    """The caller of a write route (see actions.admin_action). A stored admin token seen live
    before is taken on trust here and checked again in the action's transaction
    (Principal.recheck)."""
    token = presented_token(request)
    if is_env_token(token, settings):
        principal = Principal(ENV_TOKEN_NAME, "admin")
    else:
        token_hash = tokens.hash_token(token)
        live: LiveTokens = request.app.state.live_tokens
        known = live.get(token_hash)
        if known is not None:
            principal = Principal(known.name, known.role, recheck=token_hash)
        else:
            found = await run_in_threadpool(stored_principal, db, token_hash)
            if found is None:
                raise Unauthorized("invalid or revoked admin token")
            principal = found
            if principal.role == "admin":  # a viewer is refused every write anyway
                live.remember(token_hash, principal)
        note_use(request, token_hash)
    request.state.principal = principal  # for the audit log, also when the role is refused
    return principal


def note_use(request: Request, token_hash: str) -> None:
    """A stored token was used: its last use is written at most once a minute, in the
    background (web/token_use.py)."""
    use: TokenUse | None = getattr(request.app.state, "token_use", None)
    if use is not None:
        use.seen(token_hash)


def require(*roles: str) -> Callable[..., Any]:
    async def check(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        return allowed(principal, *roles)

    return check


def allowed(principal: Principal, *roles: str) -> Principal:
    if principal.role not in roles:
        raise Forbidden(f"a {principal.role} token may not do this")
    return principal


Reader = Annotated[Principal, Depends(require("admin", "viewer"))]


# Path ids are strings so that a malformed one is a 404 (it names nothing), not a 422.
UserIdPath = Annotated[str, Path(description="A user's id", examples=["1"])]
ChallengeIdPath = Annotated[str, Path(description="A challenge's id", examples=["1"])]
JobIdPath = Annotated[str, Path(description="A payout job's id (a UUID)")]


def parse_id(raw: str, what: str) -> int:
    """A malformed or out-of-range id names nothing: 404, like an unknown one."""
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID:
        return int(raw)
    raise NotFound(f"{what} {raw!r} not found")


def parse_uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{what} {raw!r} not found") from None
