"""Every success answer: status code, exactly the seed's camelCase keys, Z timestamps."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.api import admin_client, job_status
from tests.support.scenario import worker

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
USER_KEYS = {"id", "username", "balance", "status"}
CHALLENGE_KEYS = {
    "id",
    "title",
    "status",
    "result",
    "platformFeeBps",
    "challengerStakeTotal",
    "challengedStakeTotal",
    "challengerCount",
    "challengedCount",
    "createdAt",
    "resolvedAt",
}
SEED_STATUS_KEYS = {
    "jobId",
    "challengeId",
    "status",
    "totalWinners",
    "processedWinners",
    "progressPercent",
    "createdAt",
    "completedAt",
    "error",
}
STATUS_KEYS = SEED_STATUS_KEYS | {
    "kind",
    "failedWinners",
    "phase",
    "paidPerSecond",
    "etaSeconds",
    "tookSeconds",
}
JOB_KEYS = STATUS_KEYS | {"totalPool", "platformFee", "winnerPool", "startedAt"}
ENTRY_KEYS = {
    "id",
    "jobId",
    "userId",
    "amount",
    "status",
    "attempts",
    "error",
    "createdAt",
    "processedAt",
}


@pytest.fixture
def api(settings, db):
    with admin_client(settings, db) as client:
        yield client


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


def is_uuid_string(value):
    return isinstance(value, str) and str(uuid.UUID(value)) == value


class TestUserShapes:
    def test_create_get_freeze_unfreeze(self, api):
        user = ok(api.post("/api/admin/users", json={"username": "ann", "balance": 500}), 201)
        assert user.keys() == USER_KEYS
        assert user["username"] == "ann"
        assert (user["balance"], user["status"]) == (500, "active")
        assert isinstance(user["id"], int)
        assert ok(api.get(f"/api/admin/users/{user['id']}")) == user
        assert ok(api.post(f"/api/admin/users/{user['id']}/freeze")) == user | {"status": "frozen"}
        assert ok(api.post(f"/api/admin/users/{user['id']}/unfreeze")) == user

    def test_balance_defaults_to_zero(self, api):
        assert ok(api.post("/api/admin/users", json={"username": "zed"}), 201)["balance"] == 0


class TestChallengeShapes:
    def test_create_stake_resolve_and_list(self, api, settings):
        fresh = ok(api.post("/api/admin/challenges", json={"title": "  Who wins?  "}), 201)
        assert fresh.keys() == CHALLENGE_KEYS
        assert fresh["title"] == "Who wins?"
        assert (fresh["status"], fresh["result"], fresh["resolvedAt"]) == ("open", None, None)
        assert fresh["platformFeeBps"] == settings.platform_fee_bps
        assert TIMESTAMP.match(fresh["createdAt"])
        other = ok(
            api.post("/api/admin/challenges", json={"title": "free", "platformFeeBps": 0}), 201
        )
        assert other["platformFeeBps"] == 0
        listed = ok(api.get("/api/admin/challenges"))
        assert [c["id"] for c in listed] == [other["id"], fresh["id"]]  # newest first
        assert ok(api.get("/api/admin/challenges?status=open&q=free")) == [other]

        cid = fresh["id"]
        ann = ok(api.post("/api/admin/users", json={"username": "ann", "balance": 500}), 201)
        bob = ok(api.post("/api/admin/users", json={"username": "bob", "balance": 500}), 201)
        staked = ok(
            api.post(
                f"/api/admin/challenges/{cid}/stakes",
                json={
                    "stakes": [
                        {"userId": ann["id"], "side": "challenger", "amount": 300},
                        {"userId": bob["id"], "side": "challenged", "amount": 100},
                        {"userId": ann["id"], "side": "challenger", "amount": 50},
                    ]
                },
            ),
            201,
        )
        assert staked.keys() == CHALLENGE_KEYS
        assert staked["challengerStakeTotal"] == 350
        assert staked["challengedStakeTotal"] == 100
        assert (staked["challengerCount"], staked["challengedCount"]) == (1, 1)
        assert ok(api.get(f"/api/admin/users/{ann['id']}"))["balance"] == 150

        resolved = ok(
            api.post(f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"})
        )
        assert resolved.keys() == {"challenge", "payoutJobId", "refundJobId", "message"}
        assert is_uuid_string(resolved["payoutJobId"])
        assert resolved["refundJobId"] is None
        assert resolved["message"] == (
            "Challenge result set to challenger_won. Payouts queued for processing."
        )
        challenge = resolved["challenge"]
        assert challenge.keys() == CHALLENGE_KEYS
        assert (challenge["status"], challenge["result"]) == ("resolved", "challenger_won")
        assert TIMESTAMP.match(challenge["resolvedAt"])
        assert ok(api.get(f"/api/admin/challenges/{cid}")) == challenge

    def test_draw_answers_a_refund_job(self, api):
        cid = ok(api.post("/api/admin/challenges", json={"title": "t"}), 201)["id"]
        ann = ok(api.post("/api/admin/users", json={"username": "ann", "balance": 5}), 201)
        api.post(
            f"/api/admin/challenges/{cid}/stakes",
            json={"stakes": [{"userId": ann["id"], "side": "challenged", "amount": 5}]},
        )
        resolved = ok(api.post(f"/api/admin/challenges/{cid}/result", json={"result": "draw"}))
        assert resolved["payoutJobId"] is None
        assert is_uuid_string(resolved["refundJobId"])
        assert resolved["message"] == "Challenge result set to draw. Refunds queued for processing."


class TestJobShapes:
    def test_status_list_trigger_entries(self, api, db, settings):
        cid = ok(api.post("/api/admin/challenges", json={"title": "t"}), 201)["id"]
        users = [
            ok(api.post("/api/admin/users", json={"username": f"p{n}", "balance": 100}), 201)
            for n in range(3)
        ]
        api.post(
            f"/api/admin/challenges/{cid}/stakes",
            json={
                "stakes": [
                    {"userId": users[0]["id"], "side": "challenger", "amount": 60},
                    {"userId": users[1]["id"], "side": "challenger", "amount": 40},
                    {"userId": users[2]["id"], "side": "challenged", "amount": 100},
                ]
            },
        )
        job_id = ok(
            api.post(f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"})
        )["payoutJobId"]

        queued = job_status(api, job_id)
        assert queued.keys() == STATUS_KEYS
        assert queued == queued | {
            "jobId": job_id,
            "challengeId": cid,
            "kind": "payout",
            "status": "queued",
            "totalWinners": 2,
            "processedWinners": 0,
            "failedWinners": 0,
            "progressPercent": 0,
            "completedAt": None,
            "error": None,
        }
        assert TIMESTAMP.match(queued["createdAt"])

        triggered = ok(api.post(f"/api/admin/payout-jobs/{job_id}/trigger"), 202)
        assert triggered.keys() == STATUS_KEYS
        [listed] = ok(api.get("/api/admin/payout-jobs?status=queued,running"))
        assert listed.keys() == JOB_KEYS
        assert (listed["totalPool"], listed["platformFee"], listed["winnerPool"]) == (
            200,
            10,
            190,
        )

        worker(db, settings).run_until_idle()
        done = job_status(api, job_id)
        assert (done["status"], done["progressPercent"], done["processedWinners"]) == (
            "completed",
            100,
            2,
        )
        assert TIMESTAMP.match(done["completedAt"])
        assert ok(api.get("/api/admin/payout-jobs?status=queued,running")) == []
        [finished] = ok(api.get("/api/admin/payout-jobs?status=completed"))
        assert TIMESTAMP.match(finished["startedAt"])

        entries = ok(api.get(f"/api/admin/payout-jobs/{job_id}/entries"))
        assert [e.keys() == ENTRY_KEYS for e in entries] == [True, True]
        assert sorted(e["amount"] for e in entries) == [76, 114]  # 190 split 60:40
        assert all(TIMESTAMP.match(e["processedAt"]) for e in entries)
        assert all(e["jobId"] == job_id and e["status"] == "completed" for e in entries)
        page = ok(api.get(f"/api/admin/payout-jobs/{job_id}/entries?limit=1"))
        rest = ok(api.get(f"/api/admin/payout-jobs/{job_id}/entries?afterId={page[0]['id']}"))
        assert page + rest == entries
        assert ok(api.get(f"/api/admin/payout-jobs/{job_id}/entries?status=failed")) == []

    def test_healthz(self, api):
        assert ok(api.get("/healthz")) == {"status": "ok"}
