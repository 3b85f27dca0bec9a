"""Pausing and resuming payouts from the console, in Chromium at desktop size, against a
real `payouts serve` with its embedded worker: confirm, the banner on every page, a job
resolved while paused waits, resume, it completes. Times show in the browser's zone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_admin_ui import (
    ARTIFACTS,
    _env,
    _staked_challenge,
    books_balance,
    browser,  # noqa: F401 (a fixture)
    sign_in,
)
from tests.support.cli import run_payouts
from tests.support.server import ServerProcess
from tests.support.tokens import ADMIN_TOKEN

pytestmark = pytest.mark.browser
ZONE = "Asia/Kolkata"  # UTC+05:30: a local time that cannot be mistaken for UTC


@pytest.fixture
def server(tmp_path: Path):
    run_payouts(_env(tmp_path), "migrate", check=True)
    with ServerProcess(_env(tmp_path), tmp_path / "serve.log") as live:
        yield live


@pytest.fixture
def desk(browser: Any):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=ZONE)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def test_pause_and_resume_from_the_console(desk: Any, server: ServerProcess) -> None:
    page = desk
    sign_in(page, server.url)
    assert page.locator("#paused-banner").count() == 0
    page.click("nav a:text('Pause payouts')")
    page.wait_for_selector("h1:text('Pause and resume payouts')")
    page.click("button:text('Yes, pause all payouts')")
    assert page.inner_text(".flash") == "Paused processing of every payout job."

    banner = page.locator("#paused-banner")
    assert re.search(
        r"Payouts paused by env-token at \d\d:\d\d:\d\d \((just now|\d+ min ago)\)",
        banner.inner_text(),
    ), banner.inner_text()
    shown = banner.locator("time")
    assert shown.get_attribute("title", timeout=1_000).endswith(" UTC")
    assert "UTC" not in shown.inner_text()  # the browser's zone (IST), UTC on hover
    utc_hour = int(shown.get_attribute("datetime")[11:13])
    shown_hour = int(shown.inner_text()[:2])
    assert shown_hour != utc_hour  # 5 h 30 min ahead of UTC

    with server.api(ADMIN_TOKEN) as api:
        challenge_id, _ = _staked_challenge(api, winners=40, losers=5)
        resolved = api.post(f"/challenges/{challenge_id}/result", json={"result": "challenger_won"})
        assert resolved.status_code == 200  # resolving still works while paused
        job_id = resolved.json()["payoutJobId"]
        page.goto(f"{server.url}/admin/jobs/{job_id}")
        assert page.locator("#paused-banner").is_visible()
        row = page.locator(f"#job-{job_id}")
        assert row.get_attribute("data-status") == "queued"
        assert api.get(f"/payout-jobs/{job_id}/status").json()["phase"] == "paused"
        page.goto(f"{server.url}/admin/jobs")
        assert page.locator("#paused-banner").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / "admin-paused.png"), full_page=True, animations="disabled"
        )

        page.click("#paused-banner a:text('Resume…')")
        page.click("button:text('Resume all payouts')")
        assert page.inner_text(".flash") == "Resumed processing of every payout job."
        assert page.locator("#paused-banner").count() == 0
        page.goto(f"{server.url}/admin/jobs/{job_id}")
        page.wait_for_selector(f"#job-{job_id}[data-status=completed]")
        page.reload()
        assert page.inner_text("#job-took").startswith(
            ("0.", "1", "2", "3", "4", "5", "6", "7", "8", "9")
        )
        page.screenshot(
            path=str(ARTIFACTS / "admin-resumed-job.png"), full_page=True, animations="disabled"
        )
        status = api.get(f"/payout-jobs/{job_id}/status").json()
        assert (status["status"], status["processedWinners"]) == ("completed", 40)
        assert status["tookSeconds"] is not None
        audit = api.get("/audit").json()
        actions = [row["action"] for row in audit]
        assert "ui_pause_processing" in actions and "ui_resume_processing" in actions
    books_balance(server)
