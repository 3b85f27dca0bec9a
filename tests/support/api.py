"""The HTTP API in-process (FastAPI's TestClient) on a test's database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from payouts.api.app import create_app
from payouts.config import Settings
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
