"""Guessing tokens: after PAYOUTS_AUTH_FAILURES_PER_MINUTE failures in a minute an address
gets 429 with Retry-After, on the API and the admin UI's sign-in, and every refusal is
audited; other addresses, and trusted proxies' forwarded clients, are judged apart."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from payouts.app import create_app
from tests.support.api import audit_rows, bearer
from tests.support.tokens import ADMIN_TOKEN

LIMIT = 3


@pytest.fixture
def limited(settings):
    return settings.model_copy(update={"auth_failures_per_minute": LIMIT})


@contextmanager
def clients(settings, db, *addresses):
    app = create_app(settings, db, embedded_worker=False)
    with TestClient(app, client=(addresses[0], 5000)) as first:
        others = [TestClient(app, client=(address, 5000)) for address in addresses[1:]]
        yield [first, *others]


def test_api_guessing_is_refused_then_other_addresses_still_work(limited, db):
    with clients(limited, db, "198.51.100.7", "198.51.100.8") as (guesser, other):
        for _ in range(LIMIT):
            wrong = guesser.get("/api/admin/payout-jobs", headers=bearer("guess"))
            assert wrong.status_code == 401
        refused = guesser.get("/api/admin/payout-jobs", headers=bearer(ADMIN_TOKEN))
        assert refused.status_code == 429  # even the right token, from this address
        assert int(refused.headers["retry-after"]) == 60
        assert "wait 60 s" in refused.json()["message"]
        posted = guesser.post("/api/admin/challenges/1/result", json={"result": "draw"})
        assert posted.status_code == 429
        assert other.get("/api/admin/payout-jobs", headers=bearer(ADMIN_TOKEN)).status_code == 200
    rows = [(r["action"], r["client"], r["status_code"]) for r in audit_rows(db)]
    assert rows == [
        ("GET /api/admin/payout-jobs", "198.51.100.7", 429),
        ("resolve_challenge", "198.51.100.7", 429),
    ]


def test_admin_sign_in_failures_are_refused_with_a_message_to_wait(limited, db):
    with clients(limited, db, "198.51.100.9") as (browser,):
        for _ in range(LIMIT):
            failed = browser.post("/admin/login", data={"token": "guess"})
            assert failed.status_code == 401
        page = browser.post("/admin/login", data={"token": ADMIN_TOKEN})
        assert page.status_code == 429
        assert page.headers["retry-after"] == "60"
        assert "Too many failed sign-ins from your address. Wait 60 seconds" in page.text
    rows = [(r["action"], r["client"], r["status_code"]) for r in audit_rows(db)]
    assert rows == [("ui_login", "198.51.100.9", 401)] * LIMIT + [("ui_login", "198.51.100.9", 429)]


def test_forwarded_for_counts_only_behind_a_trusted_proxy(limited, db):
    with clients(limited, db, "10.0.0.2") as (proxy,):  # not trusted by default
        for n in range(LIMIT):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}", **bearer("guess")}
            assert proxy.get("/api/admin/payout-jobs", headers=spoofed).status_code == 401
        fresh = {"X-Forwarded-For": "203.0.113.99", **bearer(ADMIN_TOKEN)}
        assert proxy.get("/api/admin/payout-jobs", headers=fresh).status_code == 429
    trusting = limited.model_copy(update={"trusted_proxies": "10.0.0.0/8"})
    with clients(trusting, db, "10.0.0.2") as (proxy,):
        guess = {"X-Forwarded-For": "203.0.113.5", **bearer("guess")}
        for _ in range(LIMIT):
            assert proxy.get("/api/admin/payout-jobs", headers=guess).status_code == 401
        assert proxy.get("/api/admin/payout-jobs", headers=guess).status_code == 429
        fine = {"X-Forwarded-For": "203.0.113.6", **bearer(ADMIN_TOKEN)}
        assert proxy.get("/api/admin/payout-jobs", headers=fine).status_code == 200


def test_pages_opened_without_a_credential_are_not_failures(limited, db):
    with clients(limited, db, "198.51.100.10") as (browser,):
        for _ in range(LIMIT * 3):
            assert browser.get("/admin/jobs").status_code == 401  # the sign-in page
            assert browser.get("/api/admin/payout-jobs").status_code == 401  # no token
        assert browser.get("/api/admin/payout-jobs", headers=bearer(ADMIN_TOKEN)).status_code == 200
