"""The HTTP API in-process (FastAPI's TestClient) on a test's database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from payouts.app import create_app
from payouts.config import Settings
from payouts.services import tokens
from payouts.storage.database import Database

AUTH = {"Authorization": "Bearer test-admin-token"}


@contextmanager
def admin_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client that sends the admin token on every request (no embedded worker)."""
    with TestClient(create_app(settings, db), headers=AUTH) as client:
        yield client


def job_status(client: TestClient, job_id: str | uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/api/admin/payout-jobs/{job_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def api_client(
    settings: Settings, db: Database, *, raise_server_exceptions: bool = True
) -> Iterator[TestClient]:
    """A client that sends no token unless asked (no embedded worker)."""
    app = create_app(settings, db, embedded_worker=False)
    with TestClient(app, raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def new_token(db: Database, name: str, role: str) -> str:
    with db.write() as conn:
        return tokens.create_token(conn, name, role)


def audit_rows(db: Database) -> list[dict[str, object]]:
    """The audit log, oldest first."""
    with db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT actor, action, target, client, status_code, outcome FROM audit_log"
                " ORDER BY id"
            )
        )
        return [dict(row._mapping) for row in rows]
