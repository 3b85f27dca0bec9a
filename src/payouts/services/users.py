"""Users and their balances. Every balance change is also a ledger row."""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError

from payouts.domain.errors import Conflict, NotFound
from payouts.storage.clock import utcnow
from payouts.storage.tables import transactions, users


def create_user(conn: Connection, username: str, balance: int) -> RowMapping:
    """A new active user; an initial balance is booked as a deposit."""
    now = utcnow()
    if conn.execute(select(users.c.id).where(users.c.username == username)).first():
        raise Conflict(f"username {username!r} is taken")
    try:
        user = (
            conn.execute(
                insert(users)
                .values(username=username, balance=balance, status="active", created_at=now)
                .returning(*users.c)
            )
            .mappings()
            .one()
        )
    except IntegrityError as exc:  # a concurrent request took the name first
        raise Conflict(f"username {username!r} is taken") from exc
    if balance:
        conn.execute(
            insert(transactions).values(
                user_id=user["id"], type="deposit", amount=balance, created_at=now
            )
        )
    return user


def get_user(conn: Connection, user_id: int) -> RowMapping:
    user = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def set_user_status(conn: Connection, user_id: int, status: str) -> RowMapping:
    """Freeze or unfreeze. A frozen user's payouts fail until unfrozen and retried."""
    user = (
        conn.execute(
            update(users).where(users.c.id == user_id).values(status=status).returning(*users.c)
        )
        .mappings()
        .first()
    )
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user
