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
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from payouts.storage.clock import utcnow
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


# Built once: a statement built per call costs more CPU than running it (construction and
# its cache key), and these run on every request that carries a key.
_k = idempotency_keys.c
_CLAIM = {
    name: dialect_insert(idempotency_keys)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(_k.key)  # rowcount is not reliable for this on psycopg
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_STORED = select(_k.request, _k.body_hash, _k.response_status, _k.response_body).where(
    _k.key == bindparam("claimed")
)
_STORE = (
    update(idempotency_keys)
    .where(_k.key == bindparam("claimed"))
    .values(response_status=bindparam("response_status"), response_body=bindparam("body"))
)


def claim(conn: Connection, key: str, request: str, request_hash: str) -> StoredResponse | None:
    """Reserve `key` for this transaction (None), or return what was stored under it."""
    claimed = conn.execute(
        _CLAIM[conn.dialect.name],
        {"key": key, "request": request, "body_hash": request_hash, "created_at": utcnow()},
    ).first()
    if claimed is not None:
        return None
    row = conn.execute(_STORED, {"claimed": key}).one()
    body = None if row.response_body is None else json.loads(row.response_body)
    return StoredResponse(row.request, row.body_hash, row.response_status, body)


def store(conn: Connection, key: str, status: int, body: Any) -> None:
    store_json(conn, key, status, json.dumps(body))


def store_json(conn: Connection, key: str, status: int, body_json: str) -> None:
    """`store` for a body already serialised (the JSON text the response sends)."""
    conn.execute(_STORE, {"claimed": key, "response_status": status, "body": body_json})


# Oldest first, a batch at a time, by the index on created_at. The keys are chosen in a
# subquery (DELETE ... LIMIT is not standard SQL); an old key a request is replaying at the
# moment is only read, so deleting it under that request is harmless.
_PRUNE = delete(idempotency_keys).where(
    _k.key.in_(
        select(_k.key)
        .where(_k.created_at < bindparam("cutoff"))
        .order_by(_k.created_at)
        .limit(bindparam("batch"))
        .scalar_subquery()
    )
)


def prune(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to `batch` keys stored before `older_than`; how many were deleted. A retry
    with a deleted key is then a new request."""
    return int(conn.execute(_PRUNE, {"cutoff": older_than, "batch": batch}).rowcount or 0)
