"""The admin UI in a real browser (Debian's Chromium driven by Playwright) against a real
`payouts serve` on a temp SQLite file.

The progress test serves with --no-worker and advances a real PayoutWorker, on the same
database, from the test: the embedded worker pays 1,000 winners faster than one 2-second
poll, so the bar could not be seen moving, and stepping keeps the test free of timing.
The failed-job and viewer tests use the embedded worker, as `payouts serve` runs it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from payouts.config import Settings
from payouts.domain.payout_math import allocate
from payouts.services import tokens
from payouts.storage.database import Database
from payouts.worker.loop import PayoutWorker
from payouts.worker.wakeup import LocalWakeup
from tests.conftest import unavailable
from tests.support.books import assert_books_balance
from tests.support.cli import demo, payouts_env, run_payouts
from tests.support.server import ServerProcess
from tests.support.tokens import ADMIN_TOKEN

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BATCH_SIZE = 50
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WAIT_MS = 20_000  # how long to wait for the page to show a state; never a speed check


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"playwright is not installed: {exc}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def _env(tmp: Path, **settings: object) -> dict[str, str]:
    return payouts_env(
        f"sqlite:///{tmp / 'payouts.db'}",
        batch_size=BATCH_SIZE,
        worker_interval_seconds=0.5,
        **settings,
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`payouts serve` with its embedded worker, shared by the tests that need one."""
    tmp = tmp_path_factory.mktemp("live")
    run_payouts(_env(tmp), "migrate", check=True)
    with ServerProcess(_env(tmp), tmp / "serve.log") as server:
        yield server


def sign_in(page: Any, base: str, token: str = ADMIN_TOKEN) -> None:
    page.goto(f"{base}/admin/jobs")
    page.fill("#token", token)
    page.click("form[action='/admin/login'] button[type=submit]")
    page.wait_for_selector("h1:text('Payout jobs')")


def resolve_from_the_ui(page: Any, base: str, challenge_id: int) -> str:
    """Search, preview, confirm; returns the job id the jobs page scrolls to."""
    page.goto(f"{base}/admin/challenges")
    page.fill("#q", str(challenge_id))
    page.click("form.search button")
    page.click(f"tr[data-challenge-id='{challenge_id}'] a.button")
    page.click("nav.choices a:text('Challenger won')")
    page.wait_for_selector("#confirm-resolve")
    page.click("#confirm-resolve")
    page.wait_for_url(re.compile(r"/admin/jobs#job-"))
    return str(page.url.rsplit("#job-", 1)[1])


def bar(page: Any, job_id: str) -> dict[str, Any]:
    return dict(
        page.eval_on_selector(
            f"#job-{job_id}",
            """row => ({
                value: row.querySelector('progress').value,
                max: row.querySelector('progress').max,
                status: row.dataset.status,
                badge: row.querySelector('.badge').textContent.trim(),
                percent: row.querySelector('[data-field=percent]')?.textContent.trim(),
                rate: row.querySelector('[data-field=rate]')?.textContent.trim(),
                eta: row.querySelector('[data-field=eta]')?.textContent.trim(),
                polling: row.hasAttribute('data-poll'),
            })""",
        )
    )


def wait_for_bar(page: Any, job_id: str, processed: int) -> dict[str, Any]:
    page.wait_for_function(
        "([id, n]) => document.querySelector(`#job-${id} progress`)?.value === n",
        arg=[job_id, processed],
    )
    return bar(page, job_id)


def test_a_wrong_token_is_refused_and_the_right_one_signs_in(page, live):
    page.goto(f"{live.url}/admin/challenges")
    assert page.locator("#token").is_visible()
    assert page.locator("table#challenges").count() == 0
    page.fill("#token", "certainly-not-the-token")
    page.click("form[action='/admin/login'] button[type=submit]")
    assert "That token was not accepted" in page.inner_text("#login-error")
    assert not [c for c in page.context.cookies() if c["name"] == "payouts_admin"]

    page.fill("#token", ADMIN_TOKEN)
    page.click("form[action='/admin/login'] button[type=submit]")
    page.wait_for_url(f"{live.url}/admin/challenges")
    assert page.locator("h1").inner_text() == "Challenges"
    (session,) = [c for c in page.context.cookies() if c["name"] == "payouts_admin"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # page scripts never see the token

    page.click("form.signout button")
    page.goto(f"{live.url}/admin/jobs")
    assert page.locator("#token").is_visible()


def test_resolve_1000_winners_and_watch_the_bar_fill(page, tmp_path):
    env = _env(tmp_path, embedded_worker="false")
    run_payouts(env, "migrate", check=True)  # `demo` uses the schema, it does not make it
    challenge_id = demo(env, winners=1000, losers=200)["challengeId"]
    server = ServerProcess(env, tmp_path / "serve.log").start()
    db = Database(env["PAYOUTS_DATABASE_URL"])
    try:
        worker = PayoutWorker(
            db,
            Settings(database_url=env["PAYOUTS_DATABASE_URL"], batch_size=BATCH_SIZE),
            LocalWakeup(),
        )
        sign_in(page, server.url)
        check_preview(page, server.url, db, challenge_id)
        job_id = resolve_from_the_ui(page, server.url, challenge_id)
        seen = [bar(page, job_id)]
        assert seen[0]["status"] == "queued" and seen[0]["value"] == 0
        assert "queued for 1,000 winners" in page.inner_text(".flash")

        page.click(f"#job-{job_id} form[data-show-when=queued] button")  # "Process now"
        assert "process job" in page.inner_text(".flash")

        pay_until(worker, db, 300)
        seen.append(wait_for_bar(page, job_id, 300))
        assert seen[-1]["status"] == "running" and seen[-1]["percent"] == "30%"
        assert re.fullmatch(r"[\d,.]+/s", seen[-1]["rate"]), seen[-1]
        assert seen[-1]["polling"]

        page.reload()  # the row comes from the server: a reload keeps it, with its progress
        seen.append(bar(page, job_id))
        assert seen[-1]["status"] == "running" and seen[-1]["value"] == 300
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-jobs-running.png"), full_page=True)

        pay_until(worker, db, 650)
        seen.append(wait_for_bar(page, job_id, 650))

        worker.run_until_idle()
        # The live page moves the finished job from Active to the Completed table.
        completed = page.locator(f"#completed-jobs tr#job-{job_id}")
        completed.wait_for()
        assert page.locator(f"#active-jobs #job-{job_id}").count() == 0
        assert "1,000" in completed.inner_text()
        assert "done in" not in completed.inner_text()  # "Took" and a duration
        values = [s["value"] for s in seen]
        assert values == sorted(values) and 0 < values[2] < 1000, values

        page.screenshot(path=str(ARTIFACTS / "admin-jobs-live.png"), full_page=True)
        page.reload()
        assert "1,000" in completed.inner_text()
        page.screenshot(path=str(ARTIFACTS / "admin-jobs.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "admin-jobs-phone.png"), full_page=True)
        with db.read() as conn:
            assert_books_balance(conn)
    finally:
        db.dispose()
        server.stop()


def pay_until(worker: PayoutWorker, db: Database, paid: int) -> None:
    """Advance the worker (batches of 50) until exactly `paid` winners are paid."""
    while True:
        with db.read() as conn:
            done = conn.execute(text("SELECT processed_winners FROM payout_jobs")).scalar_one()
        if done >= paid:
            assert done == paid
            return
        assert worker.run_round(), "the worker stopped before the job was done"


def check_preview(page: Any, base: str, db: Database, challenge_id: int) -> None:
    """The confirmation shows the pool, fee, winners and extreme payouts before acting."""
    page.goto(f"{base}/admin/challenges/{challenge_id}?result=challenger_won")
    with db.read() as conn:
        stakes = dict(
            conn.execute(
                text(
                    "SELECT user_id, amount FROM stakes WHERE challenge_id = :c"
                    " AND side = 'challenger'"
                ),
                {"c": challenge_id},
            ).all()
        )
        pool = conn.execute(
            text("SELECT SUM(amount) FROM stakes WHERE challenge_id = :c"), {"c": challenge_id}
        ).scalar_one()
    fee = pool * 500 // 10_000
    payouts = allocate(pool - fee, stakes)

    def figure(name: str) -> str:
        return str(page.inner_text(f"[data-figure={name}]"))

    assert figure("total-pool") == f"{pool:,} coins"
    assert figure("platform-fee") == f"{fee:,} coins"
    assert figure("winner-pool") == f"{pool - fee:,} coins"
    assert figure("winners") == "1,000"
    for name, paid in (("largest", max(payouts.values())), ("smallest", min(payouts.values()))):
        shown = [int(n.replace(",", "")) for n in re.findall(r"[\d,]+(?= coins| or)", figure(name))]
        assert shown[0] <= paid <= shown[-1] <= shown[0] + 1, (name, shown, paid)
    with db.read() as conn:  # looking changed nothing
        status = conn.execute(
            text("SELECT status FROM challenges WHERE id = :c"), {"c": challenge_id}
        ).scalar_one()
    assert status == "open"


def _staked_challenge(api: Any, winners: int, losers: int) -> tuple[int, list[int]]:
    tag = uuid.uuid4().hex[:8]
    users = [
        api.post("/users", json={"username": f"ui{tag}-{n}", "balance": 10_000}).json()["id"]
        for n in range(winners + losers)
    ]
    challenge = api.post("/challenges", json={"title": f"UI retry {tag}"}).json()["id"]
    stakes = [
        {"userId": u, "side": "challenger" if n < winners else "challenged", "amount": 100 + n}
        for n, u in enumerate(users)
    ]
    assert api.post(f"/challenges/{challenge}/stakes", json={"stakes": stakes}).status_code == 201
    return challenge, users[:winners]


def test_a_failed_job_shows_its_error_and_retry_pays(page, live):
    with live.api(ADMIN_TOKEN) as api:
        challenge_id, winners = _staked_challenge(api, winners=30, losers=5)
        frozen = winners[3]
        assert api.post(f"/users/{frozen}/freeze").status_code == 200
        before = api.get(f"/users/{frozen}").json()["balance"]

        sign_in(page, live.url)
        job_id = resolve_from_the_ui(page, live.url, challenge_id)
        row = page.locator(f"#failed-jobs #job-{job_id}")
        row.wait_for()  # the live page moved it to Failed
        assert "1 of 30 entries failed" in row.locator(".job-error").inner_text()
        entry = row.locator("table.entries tbody tr")
        assert entry.count() == 1
        assert str(frozen) in entry.inner_text() and "user is frozen" in entry.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-jobs-failed.png"), full_page=True)

        assert api.post(f"/users/{frozen}/unfreeze").status_code == 200
        page.reload()  # the row was drawn while the user was frozen: it warned
        row.locator("button:text('Retry failed entries')").click()
        assert "pending again" in page.inner_text(".flash")
        page.wait_for_selector(f"#job-{job_id}[data-status=completed]")

        status = api.get(f"/payout-jobs/{job_id}/status").json()
        assert (status["status"], status["processedWinners"], status["failedWinners"]) == (
            "completed",
            30,
            0,
        )
        entries = api.get(f"/payout-jobs/{job_id}/entries", params={"status": "completed"}).json()
        (paid,) = [e for e in entries if e["userId"] == frozen]
        assert paid["attempts"] == 2  # failed once while frozen, paid once after the retry
        assert api.get(f"/users/{frozen}").json()["balance"] == before + paid["amount"]
    books_balance(live)


def books_balance(server: ServerProcess) -> None:
    db = Database(server.env["PAYOUTS_DATABASE_URL"])
    try:
        with db.read() as conn:
            assert_books_balance(conn)
    finally:
        db.dispose()


def test_a_viewer_can_look_but_not_resolve(page, live):
    with live.api(ADMIN_TOKEN) as api:
        challenge_id, _ = _staked_challenge(api, winners=3, losers=2)
    db = Database(live.env["PAYOUTS_DATABASE_URL"])
    try:
        with db.write() as conn:
            viewer = tokens.create_token(conn, f"viewer-{uuid.uuid4().hex[:6]}", "viewer")
    finally:
        db.dispose()

    sign_in(page, live.url, viewer)
    assert page.inner_text(".role") == "viewer"
    page.goto(f"{live.url}/admin/challenges/{challenge_id}?result=challenger_won")
    assert page.locator("[data-figure=winners]").inner_text() == "3"
    assert page.locator("#confirm-resolve").count() == 0
    assert "only an admin token can resolve" in page.inner_text(".notice")

    # Even a hand-made post, with this session's CSRF token, is refused.
    csrf = page.get_attribute("form.signout input[name=csrf]", "value")
    response = page.request.post(
        f"{live.url}/admin/challenges/{challenge_id}/resolve",
        form={"csrf": csrf, "result": "challenger_won", "pool": "0"},
        headers={"Origin": live.url},
    )
    assert response.status == 403
    with live.api(ADMIN_TOKEN) as api:
        assert api.get(f"/challenges/{challenge_id}").json()["status"] == "open"
