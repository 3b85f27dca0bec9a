"""SQLite busy/locked: a transaction that finds the database locked by another connection
waits with a bounded backoff and then proceeds; past the bound the API answers 503, never
500, and nothing changes. The lock is a real one: another connection holding SQLite's
EXCLUSIVE lock (locking_mode=EXCLUSIVE), which even WAL readers cannot get past."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from payouts.services import challenges
from payouts.storage.database import Database
from tests.support.api import api_client, audit_rows, bearer

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@contextmanager
def exclusive_lock(db: Database) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's exclusive (write) lock until released."""
    db.dispose()  # our pooled connections would keep the holder from getting the lock
    holder = sqlite3.connect(db.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE challenges SET title = title")  # a write: the lock is taken now
    try:
        yield holder
    finally:
        release(holder)


def release(holder: sqlite3.Connection) -> None:
    try:
        holder.execute("ROLLBACK")
    except sqlite3.ProgrammingError:  # released already
        return
    holder.close()  # exclusive locking mode keeps the lock until the connection closes


def release_after_waits(db: Database, holder: sqlite3.Connection, waits: int) -> threading.Thread:
    """Release the lock once `db` has been refused it `waits` times (no clock involved)."""

    def run() -> None:
        while db.busy_waits < waits:
            time.sleep(0.01)
        release(holder)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def patient_db(database_url):
    """A Database that gives up on SQLite's own busy wait quickly, so its retries show."""
    database = Database(database_url, busy_timeout_ms=50, busy_retries=20)
    yield database
    database.dispose()


@pytest.fixture
def impatient_db(database_url):
    database = Database(database_url, busy_timeout_ms=50, busy_retries=2)
    yield database
    database.dispose()


def _challenge(db: Database) -> int:
    with db.write() as conn:
        return int(challenges.create_challenge(conn, "locked", 500)["id"])


def test_a_read_waits_out_a_held_write_lock(patient_db):
    cid = _challenge(patient_db)
    with exclusive_lock(patient_db) as holder:
        releaser = release_after_waits(patient_db, holder, waits=3)
        with patient_db.read() as conn:
            title = conn.execute(text("SELECT title FROM challenges WHERE id = :c"), {"c": cid})
            assert title.scalar_one() == "locked"
        releaser.join()
    assert patient_db.busy_waits >= 3


def test_a_write_waits_out_a_held_write_lock(patient_db):
    cid = _challenge(patient_db)
    with exclusive_lock(patient_db) as holder:
        release_after_waits(patient_db, holder, waits=2)
        with patient_db.write() as conn:
            challenges.resolve(conn, cid, "draw")
    with patient_db.read() as conn:
        assert challenges.get_challenge(conn, cid)["status"] == "resolved"


def test_api_read_during_a_held_lock_answers_200(settings, patient_db):
    cid = _challenge(patient_db)
    with api_client(settings, patient_db) as client, exclusive_lock(patient_db) as holder:
        release_after_waits(patient_db, holder, waits=2)
        response = client.get(f"/api/admin/challenges/{cid}", headers=bearer(ADMIN))
        assert response.status_code == 200
        assert response.json()["title"] == "locked"


def test_a_lock_held_past_the_retries_is_a_503_and_changes_nothing(settings, impatient_db):
    cid = _challenge(impatient_db)
    with api_client(settings, impatient_db) as client:
        with exclusive_lock(impatient_db):
            read = client.get(f"/api/admin/challenges/{cid}", headers=bearer(ADMIN))
            write = client.post(
                f"/api/admin/challenges/{cid}/result",
                headers=bearer(ADMIN),
                json={"result": "draw"},
            )
        for response in (read, write):
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert "busy" in response.json()["message"]
        assert (
            client.get(f"/api/admin/challenges/{cid}", headers=bearer(ADMIN)).json()["status"]
            == "open"
        )
    # the refusal could not be audited while the lock was held; it was logged instead
    assert [row["status_code"] for row in audit_rows(impatient_db)] == []


ADMIN = "test-admin-token"
