"""The admin UI's pages and the preview route, through the ASGI app on both backends:
sign-in, CSRF and role checks, and the preview against what the worker really pays."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from payouts.app import create_app
from payouts.domain.payout_math import allocate
from payouts.services import preview, tokens
from payouts.services.challenges import create_challenge, get_challenge
from payouts.storage.database import Database
from tests.support.books import assert_books_balance
from tests.support.scenario import staked_challenge, worker
from tests.support.tokens import ADMIN_TOKEN


@pytest.fixture
def client(db, settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, embedded_worker=False)) as test_client:
        yield test_client


def sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> str:
    """Signs in; returns the CSRF token the pages embed in their forms."""
    response = client.post("/admin/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/admin/challenges")
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert match
    return match.group(1)


def viewer_token(db: Database) -> str:
    with db.write() as conn:
        return tokens.create_token(conn, "ui-viewer", "viewer")


def test_pages_need_a_session(client):
    for path in ("/admin/jobs", "/admin/challenges", "/admin/challenges/1"):
        response = client.get(path)
        assert response.status_code == 401
        assert 'action="/admin/login"' in response.text
        assert "Challenger side" not in response.text


def test_a_wrong_token_is_refused_with_a_message(client):
    response = client.post("/admin/login", data={"token": "not-the-token"})
    assert response.status_code == 401
    assert "That token was not accepted" in response.text
    assert "payouts_admin" not in response.headers.get("set-cookie", "")
    assert client.get("/admin/jobs").status_code == 401


def test_the_session_cookie_is_http_only_and_strict(client):
    response = client.post("/admin/login", data={"token": ADMIN_TOKEN}, follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "payouts_admin=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert response.headers["location"] == "/admin/jobs"


def test_sign_in_never_redirects_off_site(client):
    response = client.post(
        "/admin/login",
        data={"token": ADMIN_TOKEN, "next": "https://evil.example/admin"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/jobs"


def test_the_api_takes_the_cookie_for_reads_only(client, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    sign_in(client)
    assert client.get(f"/api/admin/challenges/{cid}").status_code == 200
    write = client.post(f"/api/admin/challenges/{cid}/result", json={"result": "draw"})
    assert write.status_code == 401
    with db.read() as conn:
        assert get_challenge(conn, cid)["status"] == "open"


def test_resolving_needs_the_csrf_token_and_same_origin(client, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    csrf = sign_in(client)
    form = {"result": "challenger_won", "pool": "600"}
    assert client.post(f"/admin/challenges/{cid}/resolve", data=form).status_code == 403
    forged = client.post(
        f"/admin/challenges/{cid}/resolve",
        data={**form, "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    with db.read() as conn:
        assert get_challenge(conn, cid)["status"] == "open"
    done = client.post(
        f"/admin/challenges/{cid}/resolve", data={**form, "csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    with db.read() as conn:
        assert get_challenge(conn, cid)["status"] == "resolved"


def test_resolving_refuses_a_pool_that_changed_since_the_preview(client, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    csrf = sign_in(client)
    response = client.post(
        f"/admin/challenges/{cid}/resolve",
        data={"result": "draw", "pool": "599", "csrf": csrf},
    )
    assert response.status_code == 409
    assert "changed" in response.text
    with db.read() as conn:
        assert get_challenge(conn, cid)["status"] == "open"


def test_a_viewer_may_look_but_not_act(client, db):
    cid, _, _ = staked_challenge(db, [100, 200], [300])
    csrf = sign_in(client, viewer_token(db))
    page = client.get(f"/admin/challenges/{cid}?result=challenger_won")
    assert page.status_code == 200
    assert "Winners' pool" in page.text
    assert 'id="confirm-resolve"' not in page.text
    response = client.post(
        f"/admin/challenges/{cid}/resolve",
        data={"result": "challenger_won", "pool": "600", "csrf": csrf},
    )
    assert response.status_code == 403
    assert "may look but not act" in response.text
    with db.read() as conn:
        assert get_challenge(conn, cid)["status"] == "open"


def test_retry_from_the_ui_pays_an_unfrozen_winner(client, db, settings):
    cid, winners, _ = staked_challenge(db, [100, 200, 300], [400])
    frozen = next(iter(winners))
    csrf = sign_in(client)
    assert client.post(f"/api/admin/users/{frozen}/freeze", headers=_bearer()).status_code == 200
    client.post(
        f"/admin/challenges/{cid}/resolve",
        data={"result": "challenger_won", "pool": "1000", "csrf": csrf},
    )
    worker(db, settings).run_until_idle()
    jobs_page = client.get("/admin/jobs")
    assert "1 of 3 entries failed" in jobs_page.text
    assert "user is frozen" in jobs_page.text
    job_id = re.findall(r'id="job-([0-9a-f-]{36})"', jobs_page.text)[0]
    client.post(f"/api/admin/users/{frozen}/unfreeze", headers=_bearer())
    retried = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})
    assert retried.status_code == 200
    assert "1 failed entry pending again" in retried.text
    worker(db, settings).run_until_idle()
    status = client.get(f"/api/admin/payout-jobs/{job_id}/status").json()
    assert (status["status"], status["processedWinners"]) == ("completed", 3)
    with db.read() as conn:
        assert_books_balance(conn)


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_preview_route_matches_what_the_worker_pays(client, db, settings):
    winners = [100, 250, 250, 333, 1_000_001]
    cid, stakes, _ = staked_challenge(db, winners, [777, 5])
    response = client.get(
        f"/api/admin/challenges/{cid}/preview",
        params={"result": "challenger_won"},
        headers=_bearer(),
    )
    assert response.status_code == 200
    body = response.json()
    total = sum(winners) + 777 + 5
    assert body["totalPool"] == total
    assert body["platformFee"] == total * 500 // 10_000
    assert body["winnerPool"] == total - body["platformFee"]
    assert body["totalWinners"] == len(winners)
    assert body["refundTotal"] is None
    expected = allocate(body["winnerPool"], stakes)
    largest, smallest = body["largestPayout"], body["smallestPayout"]
    assert largest["low"] <= max(expected.values()) <= largest["high"]
    assert smallest["low"] <= min(expected.values()) <= smallest["high"]

    client.post(
        f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"}, headers=_bearer()
    )
    worker(db, settings).run_until_idle()
    with db.read() as conn:
        paid = dict(
            conn.execute(
                text("SELECT user_id, amount FROM payout_entries WHERE status = 'completed'")
            ).all()
        )
    assert paid == expected


def test_preview_route_errors(client, db):
    cid, _, _ = staked_challenge(db, [100], [300])
    url = f"/api/admin/challenges/{cid}/preview"
    assert client.get(url, params={"result": "draw"}).status_code == 401
    assert client.get(url, params={"result": "nope"}, headers=_bearer()).status_code == 422
    assert client.get(url, headers=_bearer()).status_code == 422
    assert (
        client.get(
            "/api/admin/challenges/999999/preview?result=draw", headers=_bearer()
        ).status_code
        == 404
    )
    draw = client.get(url, params={"result": "draw"}, headers=_bearer()).json()
    assert (draw["kind"], draw["refundTotal"], draw["platformFee"]) == ("refund", 400, 0)
    client.post(f"/api/admin/challenges/{cid}/result", json={"result": "draw"}, headers=_bearer())
    assert client.get(url, params={"result": "draw"}, headers=_bearer()).status_code == 409


def test_preview_service_on_a_challenge_nobody_staked(db):
    with db.write() as conn:
        cid = create_challenge(conn, "empty", 500)["id"]
        assert preview.preview(conn, cid, "challenger_won").kind is None


def test_titles_are_escaped(client, db):
    with db.write() as conn:
        cid = create_challenge(conn, "<script>alert(1)</script>", 500)["id"]
    sign_in(client)
    for path in ("/admin/challenges", f"/admin/challenges/{cid}"):
        page = client.get(path).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
