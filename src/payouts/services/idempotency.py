"""Idempotency keys: a retried request with the same key gets the first response back.

The key is claimed at the start of the transaction that does the work, and the response is
stored in that same transaction: a crash leaves both or neither. Two concurrent requests with
one key cannot both do the work: the key is the table's primary key, and on PostgreSQL the
second claim waits for the first transaction, then finds its stored response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from payouts.clock import utcnow
from payouts.storage.tables import idempotency_keys


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request: str  # "POST /api/admin/challenges/7/result"
    body_hash: str
    status: int | None  # None: claimed by a transaction that has not finished
    body: Any


def body_hash(payload: Any) -> str:
    """The same JSON, whatever its key order or spacing, has the same hash."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(conn: Connection, key: str, request: str, request_hash: str) -> StoredResponse | None:
    """Reserve `key` for this transaction (None), or return what was stored under it."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    claimed = conn.execute(
        dialect_insert(idempotency_keys)
        .values(key=key, request=request, body_hash=request_hash, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(idempotency_keys.c.key)  # rowcount is not reliable for this on psycopg
    ).first()
    if claimed is not None:
        return None
    k = idempotency_keys.c
    row = conn.execute(
        select(k.request, k.body_hash, k.response_status, k.response_body).where(k.key == key)
    ).one()
    body = None if row.response_body is None else json.loads(row.response_body)
    return StoredResponse(row.request, row.body_hash, row.response_status, body)


def store(conn: Connection, key: str, status: int, body: Any) -> None:
    conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.key == key)
        .values(response_status=status, response_body=json.dumps(body))
    )
