"""Bad input, route by route: each gets a 4xx with a message, and nothing in the database
changes (the audit log aside). The kinds: malformed and out-of-range ids, negative, zero
and beyond-BIGINT amounts, unknown fields, malformed JSON, wrong content types, oversized
bodies (declared and chunked), bad query parameters, and requests the state forbids."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from payouts.services import challenges, users
from tests.support.api import api_client
from tests.support.scenario import make_users, staked_challenge

ADMIN = {"Authorization": "Bearer test-admin-token"}
JSON = {**ADMIN, "Content-Type": "application/json"}
BIG = 2**63
HUGE = 2**70


@pytest.fixture
def world(db):
    """An open challenge with stakes, a resolved one, a rich user, a frozen one."""
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    resolved, _, _ = staked_challenge(db, [10], [10])
    (rich, frozen) = make_users(db, [1_000, 1_000])
    with db.write() as conn:
        challenges.resolve(conn, resolved, "draw")
        users.set_user_status(conn, frozen, "frozen")
        job = conn.execute(text("SELECT id FROM payout_jobs")).scalar_one()
    return {"cid": cid, "resolved": resolved, "rich": rich, "frozen": frozen, "job": job}


def _fingerprint(db):
    """Everything but the audit log, summed up."""
    queries = [
        "SELECT count(*), sum(balance), sum(CASE WHEN status = 'frozen' THEN 1 ELSE 0 END)"
        " FROM users",
        "SELECT count(*), sum(amount) FROM transactions",
        "SELECT count(*), sum(amount) FROM stakes",
        "SELECT count(*), sum(challenger_stake_total), sum(CASE WHEN status = 'resolved'"
        " THEN 1 ELSE 0 END) FROM challenges",
        "SELECT count(*), max(status), max(triggered_at) FROM payout_jobs",
        "SELECT count(*) FROM payout_entries",
        "SELECT count(*) FROM idempotency_keys",
        "SELECT count(*) FROM api_tokens",
    ]
    with db.read() as conn:
        return [tuple(conn.execute(text(q)).one()) for q in queries]


def stake(user, amount=10, side="challenger"):
    return {"stakes": [{"userId": user, "side": side, "amount": amount}]}


# (case id, method, path, request kwargs or a function of the world, status, message part)
CASES = [
    # ids: malformed, zero, negative, beyond INT, non-ASCII digits, unknown
    ("id letters", "GET", "/users/abc", {}, 404, "not found"),
    ("id zero", "GET", "/users/0", {}, 404, "not found"),
    ("id negative", "GET", "/users/-1", {}, 404, "not found"),
    ("id decimal", "GET", "/users/1.5", {}, 404, "not found"),
    ("id beyond int", "GET", "/users/2147483648", {}, 404, "not found"),
    ("id beyond bigint", "GET", f"/challenges/{HUGE}", {}, 404, "not found"),
    ("id unicode digit", "GET", "/users/%EF%BC%91", {}, 404, "not found"),
    ("id unknown freeze", "POST", "/users/999999/freeze", {}, 404, "user 999999 not found"),
    (
        "id malformed resolve",
        "POST",
        "/challenges/x1/result",
        {"json": {"result": "draw"}},
        404,
        "not found",
    ),
    (
        "id unknown resolve",
        "POST",
        "/challenges/999999/result",
        {"json": {"result": "draw"}},
        404,
        "not found",
    ),
    ("job id malformed", "GET", "/payout-jobs/not-a-uuid/status", {}, 404, "not found"),
    ("job id unknown", "POST", f"/payout-jobs/{uuid.uuid4()}/trigger", {}, 404, "not found"),
    # amounts: balances
    (
        "balance negative",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": -1}},
        422,
        "balance",
    ),
    (
        "balance beyond limit",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": 10**15 + 1}},
        422,
        "balance",
    ),
    (
        "balance beyond bigint",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": BIG}},
        422,
        "balance",
    ),
    (
        "balance float",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": 1.5}},
        422,
        "balance",
    ),
    (
        "balance string",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": "5"}},
        422,
        "balance",
    ),
    (
        "balance bool",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": True}},
        422,
        "balance",
    ),
    # amounts: stakes
    (
        "stake zero",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["rich"], 0)},
        422,
        "amount",
    ),
    (
        "stake negative",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["rich"], -5)},
        422,
        "amount",
    ),
    (
        "stake beyond limit",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["rich"], 10**12 + 1)},
        422,
        "amount",
    ),
    (
        "stake beyond bigint",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["rich"], HUGE)},
        422,
        "amount",
    ),
    (
        "stake exponent",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {
            "content": f'{{"stakes": [{{"userId": {w["rich"]}, "side": "challenger",'
            ' "amount": 1e3}]}',
            "headers": JSON,
        },
        422,
        "amount",
    ),
    (
        "stake user beyond int",
        "POST",
        "/challenges/{cid}/stakes",
        {"json": stake(2**31)},
        422,
        "userId",
    ),
    (
        "stake user beyond bigint",
        "POST",
        "/challenges/{cid}/stakes",
        {"json": stake(BIG)},
        422,
        "userId",
    ),
    (
        "stake user unknown",
        "POST",
        "/challenges/{cid}/stakes",
        {"json": stake(999_999)},
        422,
        "stakes[0]: user 999999 does not exist",
    ),
    (
        "stake user frozen",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["frozen"])},
        422,
        "is frozen",
    ),
    (
        "stake side unknown",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": stake(w["rich"], side="both")},
        422,
        "side",
    ),
    (
        "stake list empty",
        "POST",
        "/challenges/{cid}/stakes",
        {"json": {"stakes": []}},
        422,
        "stakes",
    ),
    (
        "stake list too long",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": {"stakes": stake(w["rich"], 1)["stakes"] * 10_001}},
        422,
        "stakes",
    ),
    (
        "stake one bad item of three",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {
            "json": {
                "stakes": [
                    *stake(w["rich"], 10)["stakes"],
                    *stake(w["rich"], 20)["stakes"],
                    *stake(w["rich"], 5_000)["stakes"],
                ]
            }
        },
        422,
        "stakes[2]: user",
    ),
    (
        "stake other side taken",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {
            "json": {
                "stakes": [
                    *stake(w["rich"], 10)["stakes"],
                    *stake(w["rich"], 10, "challenged")["stakes"],
                ]
            }
        },
        422,
        "stakes[1]: user",
    ),
    # other fields
    (
        "fee too high",
        "POST",
        "/challenges",
        {"json": {"title": "t", "platformFeeBps": 10_001}},
        422,
        "platformFeeBps",
    ),
    (
        "fee negative",
        "POST",
        "/challenges",
        {"json": {"title": "t", "platformFeeBps": -1}},
        422,
        "platformFeeBps",
    ),
    ("title blank", "POST", "/challenges", {"json": {"title": "   "}}, 422, "title"),
    ("title too long", "POST", "/challenges", {"json": {"title": "t" * 201}}, 422, "title"),
    ("title NUL", "POST", "/challenges", {"json": {"title": "a\x00b"}}, 422, "title"),
    ("username spaces", "POST", "/users", {"json": {"username": "a b"}}, 422, "username"),
    (
        "username taken",
        "POST",
        "/users",
        lambda w: {"json": {"username": w["taken"]}},
        409,
        "taken",
    ),
    (
        "result unknown",
        "POST",
        "/challenges/{cid}/result",
        {"json": {"result": "maybe"}},
        422,
        "result",
    ),
    # unknown fields, malformed bodies
    (
        "unknown field user",
        "POST",
        "/users",
        {"json": {"username": "n", "balance": 1, "isAdmin": True}},
        422,
        "isAdmin",
    ),
    (
        "unknown field result",
        "POST",
        "/challenges/{cid}/result",
        {"json": {"result": "draw", "force": True}},
        422,
        "force",
    ),
    (
        "unknown field stake item",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"json": {"stakes": [{**stake(w["rich"])["stakes"][0], "odds": 2}]}},
        422,
        "odds",
    ),
    ("body missing", "POST", "/challenges/{cid}/result", {}, 422, "body"),
    (
        "json truncated",
        "POST",
        "/challenges/{cid}/result",
        {"content": '{"result": ', "headers": JSON},
        422,
        "JSON",
    ),
    (
        "json null",
        "POST",
        "/challenges/{cid}/result",
        {"content": "null", "headers": JSON},
        422,
        "",
    ),
    ("json array", "POST", "/challenges/{cid}/result", {"content": "[]", "headers": JSON}, 422, ""),
    (
        "json not utf-8",
        "POST",
        "/challenges/{cid}/result",
        {"content": b'{"result": "\xff"}', "headers": JSON},
        400,
        "",
    ),
    # content types
    (
        "content type text",
        "POST",
        "/challenges/{cid}/result",
        {"content": '{"result": "draw"}', "headers": {**ADMIN, "Content-Type": "text/plain"}},
        415,
        "Content-Type must be application/json",
    ),
    (
        "content type form",
        "POST",
        "/users",
        {"data": {"username": "n"}, "headers": ADMIN},
        415,
        "application/x-www-form-urlencoded",
    ),
    (
        "content type missing",
        "POST",
        "/challenges/{cid}/result",
        {"content": '{"result": "draw"}', "headers": ADMIN},
        415,
        "got 'none'",
    ),
    # sizes
    (
        "body too large",
        "POST",
        "/challenges/{cid}/stakes",
        {"content": "x" * 2_000_001, "headers": JSON},
        413,
        "larger than the limit",
    ),
    (
        "chunked body too large",
        "POST",
        "/challenges/{cid}/stakes",
        lambda w: {"content": iter([b"x" * 65_536] * 40), "headers": JSON},
        413,
        "larger than the limit",
    ),
    # state
    (
        "result on resolved",
        "POST",
        "/challenges/{resolved}/result",
        {"json": {"result": "challenger_won"}},
        409,
        "already resolved",
    ),
    (
        "bad result on resolved",
        "POST",
        "/challenges/{resolved}/result",
        {"json": {"result": "nobody"}},
        422,
        "result",
    ),
    (
        "stake on resolved",
        "POST",
        "/challenges/{resolved}/stakes",
        lambda w: {"json": stake(w["rich"])},
        409,
        "stakes are closed",
    ),
    ("retry with nothing failed", "POST", "/payout-jobs/{job}/retry", {}, 409, "no failed entries"),
    ("unfreeze unknown", "POST", "/users/2147483647/unfreeze", {}, 404, "not found"),
    # query parameters
    ("limit zero", "GET", "/challenges?limit=0", {}, 422, "limit"),
    ("limit too big", "GET", "/payout-jobs?limit=501", {}, 422, "limit"),
    ("limit text", "GET", "/challenges?limit=ten", {}, 422, "limit"),
    ("afterId negative", "GET", "/payout-jobs/{job}/entries?afterId=-1", {}, 422, "afterId"),
    (
        "afterId beyond bigint",
        "GET",
        f"/payout-jobs/{{job}}/entries?afterId={HUGE}",
        {},
        422,
        "afterId",
    ),
    ("status unknown", "GET", "/payout-jobs?status=queued,lost", {}, 422, "lost"),
    ("entry status unknown", "GET", "/payout-jobs/{job}/entries?status=paid", {}, 422, "status"),
    ("search NUL", "GET", "/challenges?q=a%00b", {}, 422, "q"),
    ("audit beforeId zero", "GET", "/audit?beforeId=0", {}, 422, "beforeId"),
]


@pytest.mark.parametrize(
    ("method", "path", "request_kwargs", "status", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_a_4xx_with_a_message_and_changes_nothing(
    settings, db, world, method, path, request_kwargs, status, message
):
    world["taken"] = "taken-name"
    with db.write() as conn:
        users.create_user(conn, world["taken"], 0)
    kwargs = request_kwargs(world) if callable(request_kwargs) else dict(request_kwargs)
    kwargs["headers"] = kwargs.get("headers", ADMIN)
    before = _fingerprint(db)
    with api_client(settings, db) as client:
        response = client.request(method, "/api/admin" + path.format(**world), **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert message in body["message"], body
    assert _fingerprint(db) == before


def test_a_json_charset_parameter_is_accepted(settings, db, world):
    with api_client(settings, db) as client:
        response = client.post(
            "/api/admin/challenges",
            headers={**ADMIN, "Content-Type": "application/json; charset=utf-8"},
            content=json.dumps({"title": "with charset"}),
        )
    assert response.status_code == 201
