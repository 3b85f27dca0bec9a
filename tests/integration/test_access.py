"""Who may do what: admin and viewer tokens, the env token, revoked and missing tokens, and
the audit row each state-changing admin request leaves, refused or not."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from payouts.app import create_app
from payouts.services import challenges, tokens
from payouts.web.audit import api_routes
from tests.support.api import api_client, audit_rows, bearer, new_token
from tests.support.scenario import staked_challenge


def _routes(settings, db, methods):
    app = create_app(settings, db, embedded_worker=False)
    found = []
    for route in api_routes(app):
        if not route.path.startswith("/api/admin"):
            continue
        for method in route.methods & methods:
            path = route.path
            for name in route.param_convertors:
                path = path.replace(f"{{{name}}}", str(uuid.uuid4()) if "job" in name else "1")
            found.append((method, path, route.name))
    return found


def test_viewer_reads_but_every_state_changing_route_is_forbidden(settings, db):
    viewer = new_token(db, "auditor", "viewer")
    staked_challenge(db, [100], [100])  # challenge 1 and users 1 and 2 exist
    writes = _routes(settings, db, {"POST", "PUT", "PATCH", "DELETE"})
    reads = _routes(settings, db, {"GET"})
    # 9, 6 of webhooks (add, remove, disable, enable, test, resend), pause and resume
    assert len(writes) == 17
    with api_client(settings, db) as client:
        for method, path, _ in writes:
            response = client.request(method, path, headers=bearer(viewer), json={})
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["message"] == "a viewer token may not do this"
        for _, path, _ in reads:
            response = client.get(path, headers=bearer(viewer))
            assert response.status_code in (200, 404, 422), (path, response.text)  # let in
    refused = audit_rows(db)
    assert [(row["action"], row["status_code"]) for row in refused] == [
        (name, 403) for _, _, name in writes
    ]
    assert {row["actor"] for row in refused} == {"auditor"}
    assert {row["client"] for row in refused} == {"testclient"}
    with db.read() as conn:  # nothing changed
        assert conn.execute(text("SELECT status FROM challenges")).scalar_one() == "open"
        assert conn.execute(text("SELECT count(*) FROM payout_jobs")).scalar_one() == 0


def test_missing_wrong_and_revoked_tokens_are_unauthorized(settings, db):
    token = new_token(db, "temp", "admin")
    with api_client(settings, db) as client:
        assert client.get("/api/admin/challenges", headers=bearer(token)).status_code == 200
        with db.write() as conn:
            tokens.revoke_token(conn, "temp")
        for headers in (
            {},
            bearer(token),  # revoked
            bearer("not-a-token"),
            {"Authorization": f"Basic {token}"},
            {"Authorization": "Bearer "},
        ):
            for method, path in (("GET", "/api/admin/challenges"), ("POST", "/api/admin/users")):
                response = client.request(
                    method, path, headers=headers, json={"username": "x", "balance": 1}
                )
                assert response.status_code == 401, (headers, path)
                assert "token" in response.json()["message"]
    refused = [row for row in audit_rows(db) if row["action"] == "create_user"]
    assert len(refused) == 5
    assert {(row["actor"], row["status_code"]) for row in refused} == {("unauthenticated", 401)}
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0


def test_a_token_revoked_after_writes_is_refused_at_once(settings, db):
    """Write requests take a stored token seen live before on trust and check it again in
    their own transaction: a revoke (here from outside the server, as the CLI does) ends
    it for the very next request, with and without an Idempotency-Key."""
    token = new_token(db, "night-ops", "admin")
    with db.write() as conn:
        first, second = (challenges.create_challenge(conn, t, 500)["id"] for t in "ab")
    with api_client(settings, db) as client:
        made = client.post(
            "/api/admin/users", headers=bearer(token), json={"username": "u1", "balance": 1}
        )
        assert made.status_code == 201  # the token is now known live to the server
        with db.write() as conn:
            tokens.revoke_token(conn, "night-ops")
        refused = [
            client.post(
                "/api/admin/users", headers=bearer(token), json={"username": "u2", "balance": 1}
            ),
            client.post(
                f"/api/admin/challenges/{first}/result",
                headers={**bearer(token), "Idempotency-Key": "after-revoke"},
                json={"result": "draw"},
            ),
            client.post(
                "/api/admin/challenges/results",
                headers=bearer(token),
                json={"results": [{"challengeId": second, "result": "draw"}]},
            ),
        ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.json()["message"] == "invalid or revoked admin token"
    rows = audit_rows(db)
    assert [(r["actor"], r["action"], r["status_code"]) for r in rows] == [
        ("night-ops", "create_user", 201),
        ("unauthenticated", "create_user", 401),
        ("unauthenticated", "resolve_challenge", 401),
        ("unauthenticated", "resolve_challenges", 401),
    ]
    with db.read() as conn:  # nothing changed, and the key was not taken
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one() == 0
        statuses = conn.execute(text("SELECT DISTINCT status FROM challenges")).scalars().all()
        assert statuses == ["open"]


def test_tokens_are_stored_hashed(db):
    token = new_token(db, "ops", "admin")
    with db.read() as conn:
        stored = conn.execute(text("SELECT name, role, token_hash FROM api_tokens")).one()
    assert token not in str(tuple(stored))
    assert stored.token_hash == tokens.hash_token(token)


def test_admin_actions_are_audited_with_who_what_where_and_outcome(settings, db):
    ops = new_token(db, "ops", "admin")
    with api_client(settings, db) as client:
        user = client.post(
            "/api/admin/users", headers=bearer(ops), json={"username": "ann", "balance": 500}
        ).json()
        challenge = client.post(
            "/api/admin/challenges", headers=bearer(settings.admin_token), json={"title": "t"}
        ).json()
        cid = challenge["id"]
        stake = {"stakes": [{"userId": user["id"], "side": "challenger", "amount": 100}]}
        assert client.post(f"/api/admin/challenges/{cid}/stakes", headers=bearer(ops), json=stake)
        assert client.post(
            f"/api/admin/challenges/{cid}/result", headers=bearer(ops), json={"result": "draw"}
        )
        again = client.post(
            f"/api/admin/challenges/{cid}/result", headers=bearer(ops), json={"result": "draw"}
        )
        assert again.status_code == 409
        bad = client.post(
            f"/api/admin/challenges/{cid}/result", headers=bearer(ops), json={"result": "?"}
        )
        assert bad.status_code == 422
        assert client.post("/api/admin/users/999/freeze", headers=bearer(ops)).status_code == 404
    rows = audit_rows(db)
    assert [
        (r["actor"], r["action"], r["target"], r["status_code"], r["outcome"]) for r in rows
    ] == [
        ("ops", "create_user", None, 201, "ok"),
        ("env-token", "create_challenge", None, 201, "ok"),
        ("ops", "place_stakes", f"challenge_id={cid}", 201, "ok"),
        ("ops", "resolve_challenge", f"challenge_id={cid}", 200, "ok"),
        ("ops", "resolve_challenge", f"challenge_id={cid}", 409, again.json()["message"]),
        ("ops", "resolve_challenge", f"challenge_id={cid}", 422, bad.json()["message"]),
        ("ops", "freeze_user", "user_id=999", 404, "user 999 not found"),
    ]
    assert {row["client"] for row in rows} == {"testclient"}


def test_audit_log_is_readable_newest_first_in_pages(settings, db):
    viewer = new_token(db, "auditor", "viewer")
    with db.write() as conn:
        cid = challenges.create_challenge(conn, "t", 500)["id"]
    with api_client(settings, db) as client:
        for n in range(5):
            client.post(f"/api/admin/users/{900 + n}/freeze", headers=bearer(viewer))
        page = client.get("/api/admin/audit?limit=3", headers=bearer(viewer))
        assert page.status_code == 200
        first = page.json()
        assert [e["target"] for e in first] == ["user_id=904", "user_id=903", "user_id=902"]
        assert set(first[0]) == {
            "id", "at", "actor", "action", "target", "client", "statusCode", "outcome"
        }  # fmt: skip
        assert first[0]["at"].endswith("Z")
        rest = client.get(
            f"/api/admin/audit?limit=3&beforeId={first[-1]['id']}", headers=bearer(viewer)
        ).json()
        assert [e["target"] for e in rest] == ["user_id=901", "user_id=900"]
        assert client.get("/api/admin/audit").status_code == 401
    assert cid


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_refused_action_is_audited_even_before_routing(settings, db):
    with api_client(settings, db) as client:
        too_big = "x" * (settings.max_body_bytes + 1)
        response = client.post(
            "/api/admin/challenges/3/result",
            headers={**bearer(settings.admin_token), "Content-Type": "application/json"},
            content=too_big,
        )
        assert response.status_code == 413
        response = client.post(
            "/api/admin/challenges/3/stakes",
            headers={**bearer(settings.admin_token), "Content-Type": "text/plain"},
            content="{}",
        )
        assert response.status_code == 415
        response = client.post("/api/admin/no-such-thing", headers=bearer(settings.admin_token))
        assert response.status_code == 404
    rows = audit_rows(db)
    assert [(r["action"], r["target"], r["status_code"]) for r in rows] == [
        ("resolve_challenge", "challenge_id=3", 413),
        ("place_stakes", "challenge_id=3", 415),
        ("POST /api/admin/no-such-thing", None, 404),
    ]
    assert rows[0]["outcome"].startswith("request body is larger than the limit")


def test_admin_ui_actions_are_audited_too(settings, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    viewer = new_token(db, "ui-viewer", "viewer")
    with api_client(settings, db) as client:
        csrf = _sign_in(client, viewer)
        refused = client.post(
            f"/admin/challenges/{cid}/resolve",
            data={"result": "challenger_won", "pool": "600", "csrf": csrf},
        )
        assert refused.status_code == 403
        csrf = _sign_in(client, settings.admin_token)
        done = client.post(
            f"/admin/challenges/{cid}/resolve",
            data={"result": "challenger_won", "pool": "600", "csrf": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
    rows = [r for r in audit_rows(db) if r["action"] == "ui_resolve_challenge"]
    assert [(r["actor"], r["target"], r["status_code"]) for r in rows] == [
        ("ui-viewer", f"challenge_id={cid}", 403),
        ("env-token", f"challenge_id={cid}", 303),
    ]
    assert rows[1]["outcome"] == "ok"


def _sign_in(client, token):
    """Signs in to the admin UI; returns the CSRF token its forms carry."""
    response = client.post("/admin/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/admin/challenges")
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)
