"""Idempotency keys are kept PAYOUTS_IDEMPOTENCY_RETENTION, then pruned by the worker's
housekeeping in small batches, oldest first; a retry after that is a new request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, text

from payouts.config import Settings
from payouts.storage.clock import utcnow
from payouts.storage.tables import idempotency_keys
from payouts.worker.housekeeping import BATCH, Housekeeping, chores_for
from tests.support.api import api_client
from tests.support.scenario import staked_challenge

ADMIN = {"Authorization": "Bearer test-admin-token"}


def _keys(db):
    with db.read() as conn:
        return set(conn.execute(text("SELECT key FROM idempotency_keys")).scalars())


def test_old_keys_are_pruned_in_batches_and_a_late_retry_is_a_new_request(settings, db):
    cid, _, _ = staked_challenge(db, [100], [200])
    headers = {**ADMIN, "Idempotency-Key": "resolve-late"}
    body = {"result": "challenger_won"}
    with api_client(settings, db) as client:
        first = client.post(f"/api/admin/challenges/{cid}/result", headers=headers, json=body)
        assert first.status_code == 200
        replay = client.post(f"/api/admin/challenges/{cid}/result", headers=headers, json=body)
        assert replay.headers.get("idempotent-replayed") == "true"

        day_ago = utcnow() - timedelta(hours=24, seconds=1)
        old = [
            {"key": f"old-{n}", "request": "POST /x", "body_hash": "0" * 64, "created_at": day_ago}
            for n in range(2 * BATCH + 5)
        ]
        with db.write() as conn:
            conn.execute(insert(idempotency_keys), old)
            conn.execute(
                text("UPDATE idempotency_keys SET created_at = :t WHERE key = 'resolve-late'"),
                {"t": day_ago},
            )
            conn.execute(
                insert(idempotency_keys),
                {
                    "key": "fresh",
                    "request": "POST /x",
                    "body_hash": "0" * 64,
                    "created_at": utcnow(),
                },
            )
        housekeeping = Housekeeping(db, chores_for(settings))
        assert housekeeping.run_due() == len(old) + 1  # in batches of BATCH
        assert _keys(db) == {"fresh"}
        assert housekeeping.run_due() == 0  # not due again before its interval

        late = client.post(f"/api/admin/challenges/{cid}/result", headers=headers, json=body)
        assert "idempotent-replayed" not in late.headers
        assert late.status_code == 409  # a new request: the challenge is already resolved
    assert "resolve-late" in _keys(db)  # stored again, for another day


def test_retention_is_configurable_and_checked():
    assert Settings(idempotency_retention="7d").idempotency_retention_seconds == 7 * 86_400
    assert Settings().idempotency_retention_seconds == 86_400
    with pytest.raises(ValueError, match="is not a duration"):
        Settings(idempotency_retention="forever")
