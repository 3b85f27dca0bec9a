"""POST /api/admin/challenges/results: many challenges resolved in one transaction, all or
nothing, each answered as the single resolve would be, with one audit row per challenge, an
Idempotency-Key like the single resolve's, and jobs that a worker really pays."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from payouts.services import challenges
from tests.support.api import api_client, audit_rows, bearer, new_token
from tests.support.books import assert_books_balance
from tests.support.cli import payouts_env
from tests.support.concurrency import concurrently
from tests.support.reads import ledger_credits
from tests.support.scenario import staked_challenge, worker
from tests.support.server import ServerProcess

ADMIN = {"Authorization": "Bearer test-admin-token"}
URL = "/api/admin/challenges/results"


def _count(db, sql):
    with db.read() as conn:
        return conn.execute(text(sql)).scalar_one()


def _statuses(db, ids):
    with db.read() as conn:
        return {cid: challenges.get_challenge(conn, cid)["status"] for cid in ids}


def _empty_challenge(db):
    with db.write() as conn:
        return challenges.create_challenge(conn, "nobody came", 500)["id"]


def _four(db):
    """A won challenge, one won by the other side, a draw to be, and one nobody staked on."""
    won, winners, _ = staked_challenge(db, [100, 300], [200])
    other, _, other_winners = staked_challenge(db, [50], [70, 80])
    drawn, drawn_a, drawn_b = staked_challenge(db, [10], [20])
    return [
        (won, "challenger_won", winners),
        (other, "challenged_won", other_winners),
        (drawn, "draw", {**drawn_a, **drawn_b}),
        (_empty_challenge(db), "draw", {}),
    ]


def _body(items):
    return {"results": [{"challengeId": cid, "result": result} for cid, result, *_ in items]}


def test_resolves_every_challenge_in_order_and_a_worker_pays_the_jobs(settings, db):
    items = _four(db)
    single, _, _ = staked_challenge(db, [5], [5])
    with api_client(settings, db) as client:
        response = client.post(URL, headers=ADMIN, json=_body(items))
        one = client.post(
            f"/api/admin/challenges/{single}/result", headers=ADMIN, json={"result": "draw"}
        )
    assert response.status_code == 200, response.text
    answers = response.json()["resolutions"]
    assert set(response.json()) == {"resolutions"}
    assert [a["challenge"]["id"] for a in answers] == [cid for cid, *_ in items]
    for answer, (_, result, _) in zip(answers, items, strict=True):
        assert set(answer) == set(one.json())  # the single resolve's object
        assert set(answer["challenge"]) == set(one.json()["challenge"])
        assert answer["challenge"]["status"] == "resolved"
        assert answer["challenge"]["result"] == result
        assert answer["message"].startswith(f"Challenge result set to {result}.")
    won, other, drawn, empty = answers
    assert won["payoutJobId"] and won["refundJobId"] is None
    assert other["payoutJobId"] and other["refundJobId"] is None
    assert drawn["refundJobId"] and drawn["payoutJobId"] is None
    assert empty["payoutJobId"] is None and empty["refundJobId"] is None
    assert "nothing to pay" in empty["message"]
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 3 + 1  # and the single one

    worker(db, settings).run_until_idle()
    with db.read() as conn:
        assert_books_balance(conn)
        assert {row.status for row in conn.execute(text("SELECT status FROM payout_jobs"))} == {
            "completed"
        }
        # winners got their stakes back and more; a draw refunds every stake in full
        paid = ledger_credits(conn, items[0][0], "challenge_payout")
        assert set(paid) == set(items[0][2]) and all(
            paid[user] > stake for user, stake in items[0][2].items()
        )
        assert set(ledger_credits(conn, items[1][0], "challenge_payout")) == set(items[1][2])
        assert ledger_credits(conn, items[2][0], "challenge_refund") == items[2][2]


def test_one_audit_row_per_challenge_as_a_single_resolve_records(settings, db):
    items = _four(db)
    single = _empty_challenge(db)
    with api_client(settings, db) as client:
        client.post(
            f"/api/admin/challenges/{single}/result", headers=ADMIN, json={"result": "draw"}
        )
        assert client.post(URL, headers=ADMIN, json=_body(items)).status_code == 200
    first, *rows = audit_rows(db)
    assert [row["target"] for row in rows] == [f"challenge_id={cid}" for cid, *_ in items]
    for row in rows:
        assert {**row, "target": None} == {**first, "target": None}
    assert first["action"] == "resolve_challenge" and first["status_code"] == 200
    assert first["outcome"] == "ok" and first["actor"] == "env-token"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"result": "void"},
            "results[2]: result must be one of challenger_won, challenged_won, draw",
        ),
        ({"challengeId": "dup"}, "results[2]: challenge {dup} is already listed (results[0])"),
        ({"challengeId": 999_999}, "results[2]: challenge 999999 not found"),
        ({"challengeId": 0}, "results[2]: challenge 0 not found"),
        ({"challengeId": 2**40}, f"results[2]: challenge {2**40} not found"),
    ],
)
def test_a_bad_item_is_a_422_that_names_it_and_changes_nothing(settings, db, bad, message):
    items = _four(db)
    body = _body(items)
    if bad.get("challengeId") == "dup":
        bad = {"challengeId": items[0][0]}
        message = message.format(dup=items[0][0])
    body["results"][2].update(bad)
    with api_client(settings, db) as client:
        response = client.post(URL, headers={**ADMIN, "Idempotency-Key": "bad-1"}, json=body)
        again = client.post(URL, headers={**ADMIN, "Idempotency-Key": "bad-1"}, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == message
    assert again.status_code == 422 and again.json() == response.json()  # replayed refusal
    _assert_nothing_resolved(db, items)
    assert [(r["action"], r["target"], r["status_code"], r["outcome"]) for r in audit_rows(db)] == [
        ("resolve_challenges", None, 422, message),
        ("resolve_challenges", None, 422, "replayed"),
    ]


def test_an_already_resolved_challenge_is_a_409_that_names_it(settings, db):
    items = _four(db)
    done = items[3][0]
    with db.write() as conn:
        challenges.resolve(conn, done, "draw")
    with api_client(settings, db) as client:
        response = client.post(URL, headers=ADMIN, json=_body(items))
    assert response.status_code == 409
    assert response.json()["message"] == f"challenge {done} (results[3]) is already resolved (draw)"
    _assert_nothing_resolved(db, items[:3])
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 0  # the draw had no stakes
    assert [(r["action"], r["status_code"]) for r in audit_rows(db)] == [
        ("resolve_challenges", 409)
    ]


def test_a_retry_with_the_key_gets_the_stored_response(settings, db):
    items = _four(db)
    headers = {**ADMIN, "Idempotency-Key": "feed-batch-7"}
    with api_client(settings, db) as client:
        first = client.post(URL, headers=headers, json=_body(items))
        again = client.post(URL, headers=headers, json=_body(items))
        other = client.post(URL, headers=headers, json=_body(items[:2]))
        plain = client.post(URL, headers=ADMIN, json=_body(items[:1]))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert other.status_code == 422 and "already used" in other.json()["message"]
    assert plain.status_code == 409  # without the key it is a second resolve
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 3
    outcomes = [(r["action"], r["outcome"]) for r in audit_rows(db)]
    assert (
        outcomes[:8] == [("resolve_challenge", "ok")] * 4 + [("resolve_challenge", "replayed")] * 4
    )


@pytest.mark.parametrize("count", [0, 1001])
def test_zero_or_more_than_a_thousand_items_is_a_422(settings, db, count):
    items = _four(db)
    body = {"results": [{"challengeId": items[0][0] + n, "result": "draw"} for n in range(count)]}
    with api_client(settings, db) as client:
        response = client.post(URL, headers=ADMIN, json=body)
    assert response.status_code == 422
    assert response.json()["message"].startswith("results: List should have at")
    _assert_nothing_resolved(db, items)


def test_a_thousand_challenges_in_one_request(settings, db):
    ids = [_empty_challenge(db) for _ in range(999)]
    won, _, _ = staked_challenge(db, [100], [100])
    body = {"results": [{"challengeId": cid, "result": "draw"} for cid in ids]}
    body["results"].insert(500, {"challengeId": won, "result": "challenger_won"})
    with api_client(settings, db) as client:
        response = client.post(URL, headers=ADMIN, json=body)
    assert response.status_code == 200, response.text[:500]
    answers = response.json()["resolutions"]
    assert len(answers) == 1000 and answers[500]["payoutJobId"]
    assert _count(db, "SELECT count(*) FROM challenges WHERE status = 'resolved'") == 1000
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'resolve_challenge'") == 1000


def test_a_viewer_gets_403_and_changes_nothing(settings, db):
    items = _four(db)
    viewer = new_token(db, "auditor", "viewer")
    with api_client(settings, db) as client:
        response = client.post(URL, headers=bearer(viewer), json=_body(items))
    assert response.status_code == 403
    _assert_nothing_resolved(db, items)
    assert [(r["actor"], r["action"], r["status_code"]) for r in audit_rows(db)] == [
        ("auditor", "resolve_challenges", 403)
    ]


def test_concurrent_duplicates_apply_once(settings, db, tmp_path):
    """Eight copies of one bulk request, with one key, at once against a real server."""
    items = _four(db)
    env = payouts_env(settings.database_url, embedded_worker="false")
    server = ServerProcess(env, tmp_path / "serve.log", cwd=tmp_path)
    server.start()
    try:
        with server.client() as http:
            results = concurrently(
                8,
                lambda: http.post(
                    URL, headers={"Idempotency-Key": "race-bulk"}, json=_body(items), timeout=60
                ),
            )
    finally:
        server.kill()
    assert all(isinstance(r, httpx.Response) for r in results), results
    assert {r.status_code for r in results} == {200}, [r.text for r in results]
    assert len({r.text for r in results}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 7
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 3
    outcomes = [r["outcome"] for r in audit_rows(db)]
    assert (outcomes.count("ok"), outcomes.count("replayed")) == (4, 7 * 4)


def _assert_nothing_resolved(db, items):
    ids = [cid for cid, *_ in items]
    assert set(_statuses(db, ids).values()) == {"open"}
    assert _count(db, "SELECT count(*) FROM payout_jobs") == 0
    with db.read() as conn:
        rows = conn.execute(text("SELECT target FROM audit_log WHERE action = 'resolve_challenge'"))
        assert rows.all() == []
