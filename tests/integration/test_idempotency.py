"""Idempotency-Key on POST .../result and .../stakes: a retry gets the first response back
and changes nothing; another body under the same key is a 422; concurrent duplicates (real
server, real threads) apply once; the key and the write commit together or not at all."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from payouts.services import challenges
from tests.support.api import api_client, audit_rows
from tests.support.cli import payouts_env
from tests.support.concurrency import concurrently
from tests.support.faults import fail_inserts, heal
from tests.support.scenario import make_users, staked_challenge
from tests.support.server import ServerProcess

ADMIN = {"Authorization": "Bearer test-admin-token"}


def _count(db, sql):
    with db.read() as conn:
        return conn.execute(text(sql)).scalar_one()


def _open_challenge(db):
    with db.write() as conn:
        return challenges.create_challenge(conn, "idempotent", 500)["id"]


def test_a_retried_resolve_returns_the_first_response_and_changes_nothing(settings, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    headers = {**ADMIN, "Idempotency-Key": "resolve-1"}
    with api_client(settings, db) as client:
        first = client.post(
            f"/api/admin/challenges/{cid}/result",
            headers=headers,
            json={"result": "challenger_won"},
        )
        again = client.post(
            f"/api/admin/challenges/{cid}/result",
            headers=headers,
            json={"result": "challenger_won"},
        )
        plain = client.post(
            f"/api/admin/challenges/{cid}/result", headers=ADMIN, json={"result": "challenger_won"}
        )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["payoutJobId"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert plain.status_code == 409  # without the key it is a second resolve
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 1
    assert [r["outcome"] for r in audit_rows(db)][:2] == ["ok", "replayed"]


def test_a_retried_stake_debits_once(settings, db):
    cid = _open_challenge(db)
    (uid,) = make_users(db, [1000])
    body = {"stakes": [{"userId": uid, "side": "challenger", "amount": 300}]}
    headers = {**ADMIN, "Idempotency-Key": "stake-1"}
    with api_client(settings, db) as client:
        responses = [
            client.post(f"/api/admin/challenges/{cid}/stakes", headers=headers, json=body)
            for _ in range(3)
        ]
        user = client.get(f"/api/admin/users/{uid}", headers=ADMIN).json()
    assert [r.status_code for r in responses] == [201, 201, 201]
    assert responses[0].json() == responses[2].json()
    assert responses[0].json()["challengerStakeTotal"] == 300
    assert user["balance"] == 700
    assert _count(db, "SELECT count(*) FROM transactions WHERE type = 'challenge_stake'") == 1


def test_the_same_key_with_another_body_or_route_is_a_422(settings, db):
    cid = _open_challenge(db)
    (uid,) = make_users(db, [1000])
    headers = {**ADMIN, "Idempotency-Key": "k-1"}
    stake = {"stakes": [{"userId": uid, "side": "challenger", "amount": 300}]}
    with api_client(settings, db) as client:
        url = f"/api/admin/challenges/{cid}"
        assert client.post(f"{url}/stakes", headers=headers, json=stake).status_code == 201
        other = {"stakes": [{"userId": uid, "side": "challenger", "amount": 301}]}
        changed = client.post(f"{url}/stakes", headers=headers, json=other)
        elsewhere = client.post(f"{url}/result", headers=headers, json={"result": "draw"})
        reordered = client.post(
            f"{url}/stakes",
            headers={**headers, "Content-Type": "application/json"},
            content=f'{{ "stakes": [ {{"amount": 300, "side": "challenger", "userId": {uid}}} ] }}',
        )
        status = client.get(url, headers=ADMIN).json()["status"]
    for response in (changed, elsewhere):
        assert response.status_code == 422
        assert (
            "Idempotency-Key 'k-1' was already used for a different request"
            in response.json()["message"]
        )
    assert reordered.status_code == 201  # same JSON, other spacing and key order: a replay
    assert reordered.headers["idempotent-replayed"] == "true"
    assert status == "open"
    assert _count(db, f"SELECT balance FROM users WHERE id = {uid}") == 700


def test_a_refused_first_request_is_replayed_as_refused(settings, db):
    cid, _, _ = staked_challenge(db, [100], [100])
    (uid,) = make_users(db, [50])
    with api_client(settings, db) as client:
        url = f"/api/admin/challenges/{cid}/stakes"
        broke = {"stakes": [{"userId": uid, "side": "challenger", "amount": 60}]}
        headers = {**ADMIN, "Idempotency-Key": "too-much"}
        first = client.post(url, headers=headers, json=broke)
        again = client.post(url, headers=headers, json=broke)
    assert first.status_code == again.status_code == 422
    assert first.json() == again.json()
    assert "has 50 coins, needs 60" in first.json()["message"]
    assert _count(db, f"SELECT balance FROM users WHERE id = {uid}") == 50


def test_bad_keys_are_a_422(settings, db):
    cid = _open_challenge(db)
    with api_client(settings, db) as client:
        for key in ("", "x" * 201, "has space"):
            response = client.post(
                f"/api/admin/challenges/{cid}/result",
                headers={**ADMIN, "Idempotency-Key": key},
                json={"result": "draw"},
            )
            assert response.status_code == 422, key
            assert "Idempotency-Key" in response.json()["message"]
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 0


def test_the_key_and_the_write_commit_together(settings, db):
    cid = _open_challenge(db)
    (uid,) = make_users(db, [1000])
    body = {"stakes": [{"userId": uid, "side": "challenger", "amount": 300}]}
    headers = {**ADMIN, "Idempotency-Key": "atomic"}
    url = f"/api/admin/challenges/{cid}/stakes"
    fail_inserts(db, "transactions", "NEW.type = 'challenge_stake'")
    with api_client(settings, db, raise_server_exceptions=False) as client:
        broken = client.post(url, headers=headers, json=body)
        assert broken.status_code == 500
        assert _count(db, "SELECT count(*) FROM idempotency_keys") == 0
        assert _count(db, f"SELECT balance FROM users WHERE id = {uid}") == 1000
        heal(db, "transactions")
        retried = client.post(url, headers=headers, json=body)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert _count(db, f"SELECT balance FROM users WHERE id = {uid}") == 700
    assert [(r["action"], r["status_code"]) for r in audit_rows(db)] == [
        ("place_stakes", 500),
        ("place_stakes", 201),
    ]


def test_concurrent_duplicates_apply_once(settings, db, tmp_path):
    cid, _, _ = staked_challenge(db, [100], [100])
    other = _open_challenge(db)
    (uid,) = make_users(db, [10_000])
    env = payouts_env(settings.database_url, embedded_worker="false")
    server = ServerProcess(env, tmp_path / "serve.log", cwd=tmp_path)
    server.start()
    try:
        with server.client() as http:
            stake = {"stakes": [{"userId": uid, "side": "challenged", "amount": 1000}]}
            stakes = concurrently(
                8,
                lambda: http.post(
                    f"/api/admin/challenges/{other}/stakes",
                    headers={"Idempotency-Key": "race-stake"},
                    json=stake,
                    timeout=60,
                ),
            )
            resolves = concurrently(
                8,
                lambda: http.post(
                    f"/api/admin/challenges/{cid}/result",
                    headers={"Idempotency-Key": "race-resolve"},
                    json={"result": "challenger_won"},
                    timeout=60,
                ),
            )
    finally:
        server.kill()
    for results, status in ((stakes, 201), (resolves, 200)):
        assert all(isinstance(r, httpx.Response) for r in results), results
        assert {r.status_code for r in results} == {status}, [r.text for r in results]
        assert len({r.text for r in results}) == 1
        assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 7
    assert _count(db, f"SELECT balance FROM users WHERE id = {uid}") == 9_000
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 1
    assert _count(db, "SELECT count(*) FROM idempotency_keys") == 2
