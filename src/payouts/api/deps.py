"""Shared request plumbing: the database, the caller's role, id parsing."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from payouts.admin import cookie
from payouts.config import Settings
from payouts.domain.errors import Forbidden, NotFound, PayoutsError
from payouts.services import tokens
from payouts.storage.database import Database
from payouts.worker.wakeup import LocalWakeup

MAX_ID = 2**31 - 1


class Unauthorized(PayoutsError):
    """No token, or not a live one (401)."""


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_wakeup(request: Request) -> LocalWakeup:
    wakeup: LocalWakeup = request.app.state.wakeup
    return wakeup


Db = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Wake = Annotated[LocalWakeup, Depends(get_wakeup)]


def token_role(token: str, db: Database, settings: Settings) -> str | None:
    """The role of a live token: the env token (compared in constant time) or a stored one."""
    if settings.admin_token and hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return "admin"
    with db.read() as conn:
        return tokens.role_of(conn, token)


def caller_role(request: Request, db: Db, settings: AppSettings) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:  # the admin UI's session cookie, accepted on reads only
        scheme, token = "bearer", cookie.read_only_session_token(request) or ""
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing admin token: send 'Authorization: Bearer <token>'")
    role = token_role(token, db, settings)
    if role is None:
        raise Unauthorized("invalid or revoked admin token")
    return role


def require(*roles: str) -> Callable[..., str]:
    def check(role: Annotated[str, Depends(caller_role)]) -> str:
        if role not in roles:
            raise Forbidden(f"a {role} token may not do this")
        return role

    return check


Reader = Annotated[str, Depends(require("admin", "viewer"))]
Admin = Annotated[str, Depends(require("admin"))]


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
