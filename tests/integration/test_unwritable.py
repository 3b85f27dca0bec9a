"""A database that cannot be written (read-only here; a full disk in e2e/test_disk_full):
API writes get 503 with a message and change nothing, reads still answer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from payouts.storage.database import Database, is_unwritable
from tests.support.api import api_client
from tests.support.tokens import ADMIN_TOKEN


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_read_only_database_answers_503_to_writes_and_200_to_reads(settings, db):
    path = Path(db.url.database or "")
    read_only = Database(f"sqlite:///file:{path}?mode=ro&uri=true", pool_size=2)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with pytest.raises(OperationalError) as raised, read_only.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, balance, created_at)"
                    " VALUES ('x', 0, '2026-01-01')"
                )
            )
        assert is_unwritable(raised.value)
        with api_client(settings, read_only) as client:
            made = client.post("/api/admin/users", headers=auth, json={"username": "ann"})
            assert made.status_code == 503
            assert made.json()["message"] == (
                "the database cannot be written right now (disk full or read-only);"
                " nothing was changed; retry later"
            )
            assert made.headers["retry-after"] == "30"
            assert client.get("/api/admin/challenges", headers=auth).status_code == 200
    finally:
        read_only.dispose()
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_what_counts_as_unwritable():
    assert is_unwritable(sqlite3.OperationalError("database or disk is full"))
    assert is_unwritable(sqlite3.OperationalError("attempt to write a readonly database"))
    assert not is_unwritable(sqlite3.OperationalError("database is locked"))
    assert not is_unwritable(ValueError("database or disk is full"))
