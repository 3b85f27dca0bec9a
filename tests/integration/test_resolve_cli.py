"""`payouts resolve --file results.csv` as a real process: the bulk resolve's service in one
transaction, its output and exit codes, and the audit rows it writes as the CLI user."""

from __future__ import annotations

import getpass
import json
import socket
import sqlite3

import pytest
from sqlalchemy import select, text

from payouts.services import challenges
from payouts.storage.tables import payout_jobs
from tests.support.api import audit_rows
from tests.support.books import assert_books_balance
from tests.support.cli import run_payouts
from tests.support.scenario import staked_challenge, worker


def _count(db, sql):
    with db.read() as conn:
        return conn.execute(text(sql)).scalar_one()


def _three(db):
    won, _, _ = staked_challenge(db, [100, 300], [200])
    drawn, _, _ = staked_challenge(db, [10], [20])
    with db.write() as conn:
        empty = challenges.create_challenge(conn, "nobody came", 500)["id"]
    return won, drawn, empty


def _csv(tmp_path, text_):
    path = tmp_path / "results.csv"
    path.write_text(text_)
    return path


def test_resolves_the_file_in_one_go_and_the_jobs_get_paid(settings, db, tmp_path):
    won, drawn, empty = _three(db)
    path = _csv(
        tmp_path,
        f"challengeId,result\n{won},challenger_won\n\n {drawn} , draw\n{empty},draw\n\n",
    )
    done = run_payouts(settings, "resolve", "--file", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    with db.read() as conn:
        jobs = {row.challenge_id: row.id for row in conn.execute(select(payout_jobs))}
    assert lines[0] == f"challenge {won}: challenger_won, payout job {jobs[won]}"
    assert lines[1] == f"challenge {drawn}: draw, refund job {jobs[drawn]}"
    assert lines[2] == f"challenge {empty}: draw, no job (nobody staked)"
    rows = audit_rows(db)
    assert [(r["action"], r["target"], r["status_code"], r["outcome"]) for r in rows] == [
        ("resolve_challenge", f"challenge_id={cid}", 200, "ok") for cid in (won, drawn, empty)
    ]
    assert {r["actor"] for r in rows} == {f"cli:{getpass.getuser()}"}
    assert {r["client"] for r in rows} == {f"cli@{socket.gethostname()}"}

    worker(db, settings).run_until_idle()
    with db.read() as conn:
        assert_books_balance(conn)
    assert _count(db, "SELECT count(*) FROM payout_jobs WHERE status = 'completed'") == 2


def test_json_prints_the_apis_answer(settings, db, tmp_path):
    won, drawn, _ = _three(db)
    path = _csv(tmp_path, f"challengeId,result\n{drawn},draw\n{won},challenged_won\n")
    done = run_payouts(settings, "resolve", "--file", str(path), "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert list(answer) == ["resolutions"]
    first, second = answer["resolutions"]
    assert set(first) == {"challenge", "payoutJobId", "refundJobId", "message"}
    assert first["challenge"]["id"] == drawn and first["refundJobId"]
    assert second["challenge"]["result"] == "challenged_won" and second["payoutJobId"]


def test_an_already_resolved_challenge_exits_1_and_changes_nothing(settings, db, tmp_path):
    won, drawn, empty = _three(db)
    with db.write() as conn:
        challenges.resolve(conn, drawn, "draw")
    path = _csv(tmp_path, f"challengeId,result\n{won},draw\n{drawn},draw\n{empty},draw\n")
    done = run_payouts(settings, "resolve", "--file", str(path))
    assert done.returncode == 1
    assert f"challenge {drawn} (line 3) is already resolved (draw)" in done.stderr
    assert done.stdout == ""
    _assert_unchanged(db, [won, empty], jobs=1)  # the draw resolved before
    assert [(r["action"], r["status_code"]) for r in audit_rows(db)] == [
        ("resolve_challenges", 409)
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,result\n{won},draw\n", "line 1: the first line must be the header challengeId,result"),
        ("", "line 1: the first line must be the header"),
        ("challengeId,result\n", "no results under the header"),
        ("challengeId,result\n{won},draw\n\n{drawn},lost\n", "line 4: result must be one of"),
        ("challengeId,result\n{won},draw\n999999,draw\n", "line 3: challenge 999999 not found"),
        ("challengeId,result\n{won},draw\n{won},draw\n", "line 3: challenge {won} is already"),
        ("challengeId,result\n{won},draw\nseven,draw\n", "line 3: challengeId must be"),
        ("challengeId,result\n{won},draw,extra\n", "line 2: expected 2 columns"),
    ],
)
def test_a_bad_file_exits_2_naming_the_line_and_changes_nothing(
    settings, db, tmp_path, content, message
):
    won, drawn, empty = _three(db)
    path = _csv(tmp_path, content.format(won=won, drawn=drawn))
    done = run_payouts(settings, "resolve", "--file", str(path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message.format(won=won) in done.stderr
    _assert_unchanged(db, [won, drawn, empty], jobs=0)


def test_an_unreadable_file_exits_2(settings, db, tmp_path):
    missing = run_payouts(settings, "resolve", "--file", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr and "nope.csv" in missing.stderr
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    binary = run_payouts(settings, "resolve", "--file", str(tmp_path / "binary.csv"))
    assert binary.returncode == 2
    assert "cannot read" in binary.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_missing_or_unmigrated_database_is_named_and_left_alone(settings, tmp_path):
    path = _csv(tmp_path, "challengeId,result\n1,draw\n")
    missing = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/none.db"})
    done = run_payouts(missing, "resolve", "--file", str(path))
    assert done.returncode == 1
    assert "no database at" in done.stderr
    assert not (tmp_path / "none.db").exists()

    (tmp_path / "empty.db").touch()
    empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db"})
    done = run_payouts(empty, "resolve", "--file", str(path))
    assert done.returncode == 1
    assert "payouts migrate" in done.stderr
    with sqlite3.connect(tmp_path / "empty.db") as conn:  # not migrated behind our back
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def _assert_unchanged(db, ids, jobs):
    with db.read() as conn:
        assert {challenges.get_challenge(conn, cid)["status"] for cid in ids} == {"open"}
    assert _count(db, "SELECT count(*) FROM payout_jobs") == jobs
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'resolve_challenge'") == 0
