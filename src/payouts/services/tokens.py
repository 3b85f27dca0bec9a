"""Admin API tokens. Only a SHA-256 of each token is stored; the token is shown once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, RowMapping, bindparam, func, insert, select, update

from payouts.domain.errors import Conflict, NotFound
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.tables import api_tokens

BOOTSTRAP_NAME = "bootstrap"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, name: str, role: str, expires_at: datetime | None = None) -> str:
    """A new token (returned once); from `expires_at` on it is refused like a revoked one."""
    if conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == name)).first():
        raise Conflict(f"a token named {name!r} exists")
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_tokens).values(
            name=name,
            role=role,
            token_hash=hash_token(token),
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    return token


# Expiry is compared here, in Python, rather than in SQL: SQLite keeps timestamps as text.
_LIVE = select(api_tokens.c.name, api_tokens.c.role, api_tokens.c.expires_at).where(
    api_tokens.c.token_hash == bindparam("token_hash"), api_tokens.c.revoked_at.is_(None)
)  # built once: it runs in every request with a stored token


def identify(conn: Connection, token: str) -> tuple[str, str] | None:
    """(name, role) of a live token, or None."""
    return identify_hash(conn, hash_token(token))


def identify_hash(conn: Connection, token_hash: str) -> tuple[str, str] | None:
    """(name, role) of the live token with this hash, or None."""
    row = conn.execute(_LIVE, {"token_hash": token_hash}).first()
    if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= utcnow()):
        return None
    return (row.name, row.role)


_TOUCH = (
    update(api_tokens)
    .where(api_tokens.c.token_hash == bindparam("used_hash"))
    .values(last_used_at=bindparam("used_at"))
)


def record_use(conn: Connection, token_hashes: Sequence[str], used_at: datetime) -> None:
    """Mark tokens as used at `used_at` (callers write this at most once a minute each)."""
    if token_hashes:
        conn.execute(_TOUCH, [{"used_hash": h, "used_at": used_at} for h in token_hashes])


def list_tokens(conn: Connection) -> Sequence[RowMapping]:
    t = api_tokens.c
    return (
        conn.execute(
            select(
                t.id, t.name, t.role, t.created_at, t.revoked_at, t.expires_at, t.last_used_at
            ).order_by(t.id)
        )
        .mappings()
        .all()
    )


def revoke_token(conn: Connection, name: str) -> None:
    t = api_tokens.c
    revoked = conn.execute(
        update(api_tokens).where(t.name == name, t.revoked_at.is_(None)).values(revoked_at=utcnow())
    ).rowcount
    if not revoked:
        raise NotFound(f"no live token named {name!r}")


def ensure_bootstrap_token(conn: Connection) -> str | None:
    """A first admin token when none is live; returns it (to print once) or None."""
    now = utcnow()
    expiries = conn.execute(
        select(api_tokens.c.expires_at).where(
            api_tokens.c.revoked_at.is_(None), api_tokens.c.role == "admin"
        )
    ).scalars()
    if any(expiry is None or as_utc(expiry) > now for expiry in expiries):
        return None
    name = BOOTSTRAP_NAME
    taken = conn.execute(
        select(func.count()).where(api_tokens.c.name.like(f"{name}%"))
    ).scalar_one()
    if taken:
        name = f"{name}-{taken + 1}"
    return create_token(conn, name, "admin")
