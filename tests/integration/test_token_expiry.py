"""Tokens that expire (`tokens create --expires-in`), refused like revoked ones, and the last
use that `tokens list` shows, written at most once a minute per token."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from payouts.domain.durations import parse_duration
from payouts.storage.clock import utcnow
from tests.support.api import api_client, audit_rows, bearer
from tests.support.cli import run_payouts


def _line(settings, name):
    listed = run_payouts(settings, "tokens", "list")
    assert listed.returncode == 0, listed.stderr
    return next(li for li in listed.stdout.splitlines() if li.startswith(name))


def _last_used(db, name):
    with db.read() as conn:
        return conn.execute(
            text("SELECT last_used_at FROM api_tokens WHERE name = :n"), {"n": name}
        ).scalar_one()


def test_an_expired_token_is_refused_like_a_revoked_one(settings, db):
    made = run_payouts(
        settings, "tokens", "create", "--name", "temp", "--role", "admin", "--expires-in", "30d"
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert "expires 20" in made.stdout
    line = _line(settings, "temp")
    assert "never" in line and "(expired)" not in line  # never used yet
    with api_client(settings, db) as client:
        assert client.get("/api/admin/challenges", headers=bearer(token)).status_code == 200
        made_challenge = client.post(
            "/api/admin/challenges", headers=bearer(token), json={"title": "before"}
        )
        assert made_challenge.status_code == 201  # the write path remembers the token...
        with db.write() as conn:  # ...and then its 30 days are over
            conn.execute(
                text("UPDATE api_tokens SET expires_at = :t WHERE name = 'temp'"),
                {"t": utcnow() - timedelta(seconds=1)},
            )
        read = client.get("/api/admin/challenges", headers=bearer(token))
        assert read.status_code == 401
        assert read.json()["message"] == "invalid or revoked admin token"
        write = client.post("/api/admin/challenges", headers=bearer(token), json={"title": "x"})
        assert write.status_code == 401  # the action's own check refuses it at once
        signin = client.post("/admin/login", data={"token": token})
        assert signin.status_code == 401
    assert "(expired)" in _line(settings, "temp")
    assert [(r["action"], r["status_code"]) for r in audit_rows(db)][-3:] == [
        ("create_challenge", 201),
        ("create_challenge", 401),
        ("ui_login", 401),
    ]


def test_bad_expiry_is_a_usage_error():
    for bad in ("0d", "30x", "-1d", "soon"):
        try:
            parse_duration(bad)
        except Exception as exc:
            assert "is not a duration" in str(exc)
        else:
            raise AssertionError(bad)
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("90") == timedelta(seconds=90)


def test_bad_expiry_on_the_command_line(settings):
    bad = run_payouts(
        settings, "tokens", "create", "--name", "t", "--role", "admin", "--expires-in", "1y"
    )
    assert bad.returncode == 2
    assert "is not a duration" in bad.stderr


def test_last_use_is_written_once_a_minute_not_per_request(settings, db):
    made = run_payouts(settings, "tokens", "create", "--name", "ops", "--role", "admin")
    token = made.stdout.strip().splitlines()[-1]
    with api_client(settings, db) as client:
        use = client.app.state.token_use
        assert client.get("/api/admin/challenges", headers=bearer(token)).status_code == 200
        use.wait()
        first = _last_used(db, "ops")
        assert first is not None
        for n in range(20):
            client.get("/api/admin/challenges", headers=bearer(token))
            client.post("/api/admin/challenges", headers=bearer(token), json={"title": f"{n}"})
        use.wait()
        assert _last_used(db, "ops") == first  # 40 more requests, no more writes
        use.every_seconds = 0  # as if a minute had passed
        client.get("/api/admin/challenges", headers=bearer(token))
        use.wait()
        assert _last_used(db, "ops") > first
    assert "never" not in _line(settings, "ops").split()[-1]
