"""API error cases: 401, 404, 422, 409, all-or-nothing stakes; every error has a message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from payouts.app import create_app
from payouts.domain.money import MAX_BALANCE, MAX_STAKE
from payouts.storage.tables import stakes, transactions
from tests.support.api import admin_client
from tests.support.books import assert_books_balance
from tests.support.scenario import worker


def expect_error(response, status: int) -> str:
    """The status, and the one error shape: {"message": "<something>"}."""
    assert response.status_code == status, response.text
    message = response.json().get("message")
    assert isinstance(message, str) and message, response.text
    return message


@dataclass
class World:
    alice: int  # 10,000 coins, 100 of them staked on the resolved challenge
    bob: int  # 10,000 coins
    rich: int  # MAX_BALANCE coins
    frozen: int
    open_challenge: int
    resolved_challenge: int
    job_id: str


@pytest.fixture
def api(settings, db):
    with admin_client(settings, db) as client:
        yield client


@pytest.fixture
def world(api) -> World:
    def user(name: str, balance: int) -> int:
        response = api.post("/api/admin/users", json={"username": name, "balance": balance})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    alice, bob = user("alice", 10_000), user("bob", 10_000)
    rich, frozen = user("rich", MAX_BALANCE), user("frosty", 10_000)
    api.post(f"/api/admin/users/{frozen}/freeze")
    open_id = api.post("/api/admin/challenges", json={"title": "open"}).json()["id"]
    resolved_id = api.post("/api/admin/challenges", json={"title": "resolved"}).json()["id"]
    api.post(
        f"/api/admin/challenges/{resolved_id}/stakes",
        json={"stakes": [{"userId": alice, "side": "challenger", "amount": 100}]},
    )
    body = api.post(
        f"/api/admin/challenges/{resolved_id}/result", json={"result": "challenger_won"}
    ).json()
    return World(alice, bob, rich, frozen, open_id, resolved_id, body["payoutJobId"])


def stake(api, challenge_id, *items, raw=None):
    payload = raw if raw is not None else {"stakes": list(items)}
    return api.post(f"/api/admin/challenges/{challenge_id}/stakes", json=payload)


def item(user_id, amount, side="challenger"):
    return {"userId": user_id, "side": side, "amount": amount}


def admin_routes(world: World) -> list[tuple[str, str, dict[str, object] | None]]:
    cid, uid, jid = world.open_challenge, world.alice, world.job_id
    return [
        ("POST", "/api/admin/users", {"username": "eve", "balance": 1}),
        ("GET", f"/api/admin/users/{uid}", None),
        ("POST", f"/api/admin/users/{uid}/freeze", None),
        ("POST", f"/api/admin/users/{uid}/unfreeze", None),
        ("POST", "/api/admin/challenges", {"title": "t"}),
        ("GET", "/api/admin/challenges", None),
        ("GET", f"/api/admin/challenges/{cid}", None),
        ("POST", f"/api/admin/challenges/{cid}/stakes", {"stakes": [item(uid, 1)]}),
        ("POST", f"/api/admin/challenges/{cid}/result", {"result": "draw"}),
        ("GET", "/api/admin/payout-jobs", None),
        ("GET", f"/api/admin/payout-jobs/{jid}/status", None),
        ("POST", f"/api/admin/payout-jobs/{jid}/trigger", None),
        ("POST", f"/api/admin/payout-jobs/{jid}/retry", None),
        ("GET", f"/api/admin/payout-jobs/{jid}/entries", None),
    ]


BAD_HEADERS = [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic test-admin-token"},
    {"Authorization": "test-admin-token"},
    {"Authorization": "Bearer test-admin-token-but-longer"},
]


class TestAuthentication:
    def test_every_admin_route_answers_401_without_the_right_token(self, world, settings, db):
        many = settings.model_copy(update={"auth_failures_per_minute": 10_000})  # no 429 here
        with TestClient(create_app(many, db)) as anonymous:
            for headers in BAD_HEADERS:
                for method, path, body in admin_routes(world):
                    response = anonymous.request(method, path, json=body, headers=headers)
                    assert response.status_code == 401, (headers, method, path)
                    expect_error(response, 401)
        with db.read() as conn:  # nothing was done on the way
            staked = conn.execute(
                select(func.count()).where(stakes.c.challenge_id == world.open_challenge)
            ).scalar_one()
        assert staked == 0

    def test_healthz_needs_no_token(self, settings, db):
        with TestClient(create_app(settings, db)) as anonymous:
            assert anonymous.get("/healthz").json() == {"status": "ok"}


BAD_INT_IDS = ["abc", "0", "-1", "99999999999", "1.5", "99999"]
BAD_JOB_IDS = [
    "abc",
    "0",
    "99999999999",
    "12345678-1234-1234-1234-12345678901z",
    str(uuid.UUID(int=1)),
]


class TestNotFound:
    def test_unknown_or_malformed_user_ids(self, api, world):
        for raw_id in BAD_INT_IDS:
            expect_error(api.get(f"/api/admin/users/{raw_id}"), 404)
            expect_error(api.post(f"/api/admin/users/{raw_id}/freeze"), 404)
            expect_error(api.post(f"/api/admin/users/{raw_id}/unfreeze"), 404)

    def test_unknown_or_malformed_challenge_ids(self, api, world):
        for raw_id in BAD_INT_IDS:
            expect_error(api.get(f"/api/admin/challenges/{raw_id}"), 404)
            expect_error(stake(api, raw_id, item(world.alice, 1)), 404)
            result = api.post(f"/api/admin/challenges/{raw_id}/result", json={"result": "draw"})
            expect_error(result, 404)

    def test_unknown_or_malformed_job_ids(self, api, world):
        for raw_id in BAD_JOB_IDS:
            expect_error(api.get(f"/api/admin/payout-jobs/{raw_id}/status"), 404)
            expect_error(api.post(f"/api/admin/payout-jobs/{raw_id}/trigger"), 404)
            expect_error(api.post(f"/api/admin/payout-jobs/{raw_id}/retry"), 404)
            expect_error(api.get(f"/api/admin/payout-jobs/{raw_id}/entries"), 404)

    def test_unknown_route_and_wrong_method(self, api, world):
        expect_error(api.get("/api/admin/nothing-here"), 404)
        expect_error(api.delete(f"/api/admin/users/{world.alice}"), 405)


class TestInvalidInput:
    def test_new_user(self, api):
        for body in [
            {"username": "x", "balance": -1},
            {"username": "x", "balance": MAX_BALANCE + 1},
            {"username": "x", "balance": 1.5},
            {"username": "x", "balance": 10.0},
            {"username": "x", "balance": "100"},
            {"username": "x", "balance": True},
            {"username": "", "balance": 1},
            {"username": "has space", "balance": 1},
            {"username": "x" * 65, "balance": 1},
            {"username": 5, "balance": 1},
            {"balance": 1},
            {"username": "x", "balance": 1, "admin": True},
        ]:
            expect_error(api.post("/api/admin/users", json=body), 422)
        assert api.get("/api/admin/users/1").status_code == 404  # none was created

    def test_biggest_balance_is_accepted(self, api):
        response = api.post("/api/admin/users", json={"username": "max", "balance": MAX_BALANCE})
        assert response.status_code == 201

    def test_new_challenge(self, api):
        for body in [
            {"title": ""},
            {"title": "   "},
            {"title": "x" * 201},
            {"title": "t", "platformFeeBps": -1},
            {"title": "t", "platformFeeBps": 10_001},
            {"title": "t", "platformFeeBps": 5.0},
            {"title": "t", "colour": "red"},
            {},
        ]:
            expect_error(api.post("/api/admin/challenges", json=body), 422)
        assert api.get("/api/admin/challenges").json() == []

    def test_stake_item(self, api, world):
        for stake_item, where in [
            ({"userId": 1, "side": "challenger", "amount": -5}, "amount"),
            ({"userId": 1, "side": "challenger", "amount": 0}, "amount"),
            ({"userId": 1, "side": "challenger", "amount": 1.5}, "amount"),
            ({"userId": 1, "side": "challenger", "amount": 2.0}, "amount"),
            ({"userId": 1, "side": "challenger", "amount": "10"}, "amount"),
            ({"userId": 1, "side": "challenger", "amount": MAX_STAKE + 1}, "amount"),
            ({"userId": 1, "side": "challenger"}, "amount"),
            ({"userId": 1, "side": "middle", "amount": 1}, "side"),
            ({"userId": "1", "side": "challenger", "amount": 1}, "userId"),
            ({"userId": 0, "side": "challenger", "amount": 1}, "userId"),
            ({"userId": 1, "side": "challenger", "amount": 1, "odds": 2}, "odds"),
        ]:
            message = expect_error(stake(api, world.open_challenge, stake_item), 422)
            assert f"stakes.0.{where}" in message

    def test_stakes_list(self, api, world):
        cid = world.open_challenge
        expect_error(stake(api, cid, raw={"stakes": []}), 422)
        expect_error(stake(api, cid, raw={}), 422)
        expect_error(stake(api, cid, raw={"stakes": [item(world.alice, 1)], "x": 1}), 422)
        expect_error(stake(api, cid, raw=[item(world.alice, 1)]), 422)
        too_many = {"stakes": [item(world.alice, 1)] * 10_001}
        expect_error(stake(api, cid, raw=too_many), 422)

    def test_result(self, api, world):
        path = f"/api/admin/challenges/{world.open_challenge}/result"
        for result in ["bad", "", None, 1, "DRAW", "challenger"]:
            expect_error(api.post(path, json={"result": result}), 422)
        assert api.get(f"/api/admin/challenges/{world.open_challenge}").json()["status"] == "open"

    def test_ids_beyond_the_integer_columns(self, api, world):
        # the database cannot even compare these: they must not reach it (once a 500)
        for user_id in (2**31, 2**63, 10**20):
            message = expect_error(stake(api, world.open_challenge, item(user_id, 1)), 422)
            assert "stakes.0.userId" in message
        path = f"/api/admin/payout-jobs/{world.job_id}/entries"
        for after_id in (2**63, 10**20):
            expect_error(api.get(f"{path}?afterId={after_id}"), 422)
        assert api.get(f"{path}?afterId={2**63 - 1}").json() == []

    def test_nul_characters(self, api):
        # PostgreSQL text cannot hold NUL (once a 500 there)
        expect_error(api.post("/api/admin/challenges", json={"title": "bad\x00title"}), 422)
        expect_error(api.get("/api/admin/challenges", params={"q": "a\x00"}), 422)
        assert api.get("/api/admin/challenges").json() == []

    def test_invalid_result_on_a_resolved_challenge_is_still_422(self, api, world):
        path = f"/api/admin/challenges/{world.resolved_challenge}/result"
        expect_error(api.post(path, json={"result": "nonsense"}), 422)
        expect_error(api.post(path, json={"result": "draw", "extra": 1}), 422)
        expect_error(api.post(path, json={}), 422)

    def test_not_json(self, api):
        response = api.post(
            "/api/admin/users", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        expect_error(response, 422)

    def test_list_filters(self, api):
        for query in [
            "/api/admin/challenges?limit=0",
            "/api/admin/challenges?status=closed",
            "/api/admin/payout-jobs?status=queued,bogus",
            "/api/admin/payout-jobs?limit=100000",
        ]:
            expect_error(api.get(query), 422)

    def test_entries_filter(self, api, world):
        path = f"/api/admin/payout-jobs/{world.job_id}/entries"
        expect_error(api.get(f"{path}?status=paid"), 422)
        expect_error(api.get(f"{path}?afterId=-1"), 422)


class TestConflicts:
    def test_stake_on_a_resolved_challenge(self, api, world):
        message = expect_error(stake(api, world.resolved_challenge, item(world.bob, 5)), 409)
        assert "resolved" in message

    def test_resolve_twice(self, api, world):
        path = f"/api/admin/challenges/{world.resolved_challenge}/result"
        message = expect_error(api.post(path, json={"result": "draw"}), 409)
        assert "already resolved" in message
        assert api.get(f"/api/admin/challenges/{world.resolved_challenge}").json()["result"] == (
            "challenger_won"
        )
        assert len(api.get("/api/admin/payout-jobs").json()) == 1

    def test_duplicate_username(self, api, world):
        message = expect_error(api.post("/api/admin/users", json={"username": "alice"}), 409)
        assert "alice" in message

    def test_trigger_a_finished_job(self, api, world, db, settings):
        worker(db, settings).run_until_idle()
        expect_error(api.post(f"/api/admin/payout-jobs/{world.job_id}/trigger"), 409)


class TestAllOrNothingStakes:
    """One bad item in the middle: 422 naming its index, and nothing changes."""

    def snapshot(self, api, db, world):
        users = {
            uid: api.get(f"/api/admin/users/{uid}").json()
            for uid in (world.alice, world.bob, world.rich, world.frozen)
        }
        challenge = api.get(f"/api/admin/challenges/{world.open_challenge}").json()
        with db.read() as conn:
            rows = (
                conn.execute(select(func.count()).select_from(stakes)).scalar_one(),
                conn.execute(select(func.count()).select_from(transactions)).scalar_one(),
            )
        return users, challenge, rows

    @pytest.mark.parametrize(
        "bad",
        ["unknown user", "insufficient", "other side", "frozen", "position limit", "zero"],
    )
    def test_one_bad_item_in_the_middle(self, api, db, world, bad):
        cid = world.open_challenge
        # an earlier request puts bob on the challenged side
        assert stake(api, cid, item(world.bob, 10, "challenged")).status_code == 201
        before = self.snapshot(api, db, world)
        middle = {
            "unknown user": item(999_999, 1),
            # alice has 9,900 left; her first item takes 9,000, so 901 more is too much
            "insufficient": item(world.alice, 901),
            "other side": item(world.bob, 1, "challenger"),
            "frozen": item(world.frozen, 1),
            "position limit": item(world.rich, MAX_STAKE),
            "zero": item(world.alice, 0),
        }[bad]
        items = [
            item(world.alice, 9_000),
            item(world.rich, MAX_STAKE),
            middle,
            item(world.bob, 5, "challenged"),
        ]
        message = expect_error(stake(api, cid, *items), 422)
        assert "stakes[2]" in message or "stakes.2." in message, message
        assert self.snapshot(api, db, world) == before
        with db.read() as conn:
            assert_books_balance(conn)

    def test_the_same_items_without_the_bad_one_are_accepted(self, api, world):
        cid = world.open_challenge
        items = [
            item(world.alice, 9_000),
            item(world.rich, MAX_STAKE),
            item(world.bob, 5, "challenged"),
        ]
        response = stake(api, cid, *items)
        assert response.status_code == 201, response.text
        challenge = response.json()
        assert challenge["challengerStakeTotal"] == 9_000 + MAX_STAKE
        assert challenge["challengedStakeTotal"] == 5
        assert (challenge["challengerCount"], challenge["challengedCount"]) == (2, 1)
        assert api.get(f"/api/admin/users/{world.alice}").json()["balance"] == 900
