"""`payouts audit-log --since/--until [--json]`: a time range, oldest first, streamed as
JSON Lines for export; the audit log itself is never pruned."""

from __future__ import annotations

import json
from datetime import timedelta

from payouts.services import audit
from payouts.storage.clock import iso_utc, utcnow
from tests.support.cli import run_payouts


def _write(db, at, action):
    row = audit.row(
        actor="t", action=action, target=None, client=None, status_code=200, outcome="ok"
    )
    row["created_at"] = at
    with db.write() as conn:
        audit.record_many(conn, [row])


def test_a_range_is_exported_oldest_first_as_json_lines(settings, db):
    now = utcnow()
    for days, action in ((10, "ten_days_ago"), (3, "three_days_ago"), (1, "yesterday")):
        _write(db, now - timedelta(days=days), action)
    _write(db, now, "now")

    def actions(*args):
        run = run_payouts(settings, "audit-log", *args)
        assert run.returncode == 0, run.stderr
        return [json.loads(line)["action"] for line in run.stdout.splitlines()]

    assert actions("--json") == ["now", "yesterday", "three_days_ago", "ten_days_ago"]
    assert actions("--json", "--since", "4d") == ["three_days_ago", "yesterday", "now"]
    assert actions("--json", "--since", "4d", "--until", "12h") == ["three_days_ago", "yesterday"]
    start = iso_utc(now - timedelta(days=11))
    end = iso_utc(now - timedelta(days=2))
    assert actions("--json", "--since", start, "--until", end) == ["ten_days_ago", "three_days_ago"]
    assert actions("--json", "--since", "30d", "--limit", "2") == ["ten_days_ago", "three_days_ago"]
    day = (now - timedelta(days=10)).date().isoformat()  # a date: from its midnight (UTC)
    assert actions("--json", "--since", day)[0] == "ten_days_ago"

    text = run_payouts(settings, "audit-log", "--since", "2d")
    assert [line.split()[2] for line in text.stdout.splitlines()] == ["yesterday", "now"]
    bad = run_payouts(settings, "audit-log", "--since", "last tuesday")
    assert bad.returncode == 2 and "neither a time" in bad.stderr
