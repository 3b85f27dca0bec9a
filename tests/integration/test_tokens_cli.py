"""`payouts tokens` and `payouts audit-log`, as real processes, and the tokens they make
working (or not) over HTTP."""

from __future__ import annotations

import json

from tests.support.api import api_client, bearer
from tests.support.cli import run_payouts


def test_create_use_list_and_revoke_tokens(settings, db):
    created = run_payouts(settings, "tokens", "create", "--name", "night-ops", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token

    duplicate = run_payouts(settings, "tokens", "create", "--name", "night-ops", "--role", "admin")
    assert duplicate.returncode == 1
    assert "exists" in duplicate.stderr
    bad_role = run_payouts(settings, "tokens", "create", "--name", "x", "--role", "root")
    assert bad_role.returncode != 0
    bad_name = run_payouts(settings, "tokens", "create", "--name", "a b", "--role", "admin")
    assert bad_name.returncode == 1

    with api_client(settings, db) as client:
        assert client.get("/api/admin/challenges", headers=bearer(token)).status_code == 200
        write = client.post("/api/admin/challenges", headers=bearer(token), json={"title": "t"})
        assert write.status_code == 403

        listed = run_payouts(settings, "tokens", "list")
        assert listed.returncode == 0
        line = next(li for li in listed.stdout.splitlines() if li.startswith("night-ops"))
        assert "viewer" in line and token not in listed.stdout

        revoked = run_payouts(settings, "tokens", "revoke", "night-ops")
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/api/admin/challenges", headers=bearer(token)).status_code == 401
    again = run_payouts(settings, "tokens", "revoke", "night-ops")
    assert again.returncode == 1

    log = run_payouts(settings, "audit-log", "--json", "--limit", "10")
    assert log.returncode == 0, log.stderr
    entries = [json.loads(line) for line in log.stdout.splitlines()]  # JSON Lines
    assert [(e["action"], e["statusCode"]) for e in entries] == [
        ("tokens_revoke", 404),
        ("tokens_revoke", 200),
        ("create_challenge", 403),
        ("tokens_create", 409),
        ("tokens_create", 201),
    ]
    assert entries[2]["actor"] == "night-ops"
    assert entries[0]["actor"].startswith("cli")
    text_log = run_payouts(settings, "audit-log", "--limit", "1")
    assert text_log.stdout.count("\n") == 1 and "tokens_revoke" in text_log.stdout
