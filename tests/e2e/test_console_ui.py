"""The operator console in a real browser (Debian's Chromium via Playwright) against real
processes: `payouts serve`, and `payouts worker` processes or the server's embedded worker.

It reuses test_admin_ui's browser, page and server fixtures and helpers. Each flow is
checked at desktop (1280) and phone (390) widths, and the pages pass axe-core (the npm
package installed by .ci/run into tests/e2e/axe, never a CDN) with no serious or critical
finding, in light and dark mode. Screenshots go to test-artifacts/ with animations off.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.e2e.test_admin_ui import (
    ARTIFACTS,
    WAIT_MS,
    _env,
    _staked_challenge,
    resolve_from_the_ui,
    sign_in,
)
from tests.support.books import assert_books_balance
from tests.support.cli import run_payouts, start_payouts
from tests.support.server import ServerProcess
from tests.support.tokens import ADMIN_TOKEN

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True, animations="disabled")


def section_count(page: Any, section: str) -> str:
    return str(page.inner_text(f"[data-count={section}]")).strip()


def wait_count(page: Any, section: str, expected: int) -> None:
    page.wait_for_function(
        "([s, n]) => document.querySelector(`[data-count=${s}]`)?.textContent.trim() === n",
        arg=[section, f"{expected:,}"],
    )


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """`payouts serve --no-worker`: jobs wait until the test starts a worker process."""
    env = _env(tmp_path, embedded_worker="false")
    run_payouts(env, "migrate", check=True)
    with ServerProcess(env, tmp_path / "serve.log") as server:
        yield server, env


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(30)


class TestLiveJobsPage:
    def test_rows_move_new_jobs_appear_failures_are_announced(self, page, quiet, tmp_path):
        server, env = quiet
        with server.api(ADMIN_TOKEN) as api:
            good, _ = _staked_challenge(api, winners=30, losers=5)
            bad, bad_winners = _staked_challenge(api, winners=5, losers=2)
            later, _ = _staked_challenge(api, winners=8, losers=2)
            quick, _ = _staked_challenge(api, winners=4, losers=1)
            assert api.post(f"/users/{bad_winners[2]}/freeze").status_code == 200
            jobs = {
                cid: api.post(
                    f"/challenges/{cid}/result", json={"result": "challenger_won"}
                ).json()["payoutJobId"]
                for cid in (good, bad)
            }
        sign_in(page, server.url)
        assert section_count(page, "active") == "2"
        assert section_count(page, "failed") == "0"
        assert page.locator("#completed-jobs").is_hidden()  # no empty table (and header)
        page.wait_for_selector("#live:has-text('live · updated')")

        # Another tab resolves a challenge: this page shows the new job without a reload.
        other = page.context.new_page()
        jobs[later] = resolve_from_the_ui(other, server.url, later)
        other.close()
        page.wait_for_selector(f"#active-jobs #job-{jobs[later]}")
        wait_count(page, "active", 3)
        shot(page, "console-jobs-queued.png")

        worker = start_payouts(["worker"], env, tmp_path / "worker.log")
        try:
            page.wait_for_selector(f"#completed-jobs #job-{jobs[good]}")
            page.wait_for_selector(f"#completed-jobs #job-{jobs[later]}")
            page.wait_for_selector(f"#failed-jobs #job-{jobs[bad]}")
            wait_count(page, "active", 0)
            wait_count(page, "failed", 1)
            wait_count(page, "completed", 2)
            assert page.locator("[data-empty=active]").is_visible()
            alert = page.locator("#announcements[role=alert]")
            assert f"Job for challenge #{bad} failed: 1 entry" in alert.inner_text()
            failed_row = page.locator(f"#failed-jobs #job-{jobs[bad]}")
            assert "1 failed entry." in failed_row.inner_text()
            assert failed_row.locator(f"a[href='/admin/users/{bad_winners[2]}']").count() == 1

            # A job created and finished between two polls still appears, under Completed.
            with server.api(ADMIN_TOKEN) as api:
                quick_job = api.post(
                    f"/challenges/{quick}/result", json={"result": "challenger_won"}
                ).json()["payoutJobId"]
            page.wait_for_selector(f"#completed-jobs #job-{quick_job}")
            wait_count(page, "completed", 3)
            shot(page, "console-jobs-live.png")
            page.set_viewport_size(PHONE)
            shot(page, "console-jobs-live-phone.png")
            page.set_viewport_size(DESKTOP)
        finally:
            _stop(worker)

        # The server goes away: the page says so instead of showing frozen numbers as live.
        server.stop()
        page.wait_for_selector("#live.lost:has-text('connection lost, retrying')")
        shot(page, "console-jobs-connection-lost.png")
        server.start()
        page.wait_for_selector("#live:not(.lost):has-text('live · updated')")

    def test_one_request_per_poll_whatever_the_number_of_jobs(self, page, quiet):
        server, _ = quiet
        with server.api(ADMIN_TOKEN) as api:
            for _ in range(12):
                cid, _ = _staked_challenge(api, winners=2, losers=1)
                api.post(f"/challenges/{cid}/result", json={"result": "challenger_won"})
        sign_in(page, server.url)
        assert section_count(page, "active") == "12"
        seen: list[str] = []
        page.on("request", lambda request: seen.append(request.url))
        with page.expect_request(re.compile(r"/admin/feed\?")):
            pass
        with page.expect_request(re.compile(r"/admin/feed\?")):
            pass
        api_calls = [url for url in seen if "/api/" in url or "/admin/feed" in url]
        assert all("/admin/feed?" in url for url in api_calls), api_calls
        assert len(api_calls) <= 3, api_calls  # one per poll, not one per row


class TestFailedJobWorkflow:
    def test_unfreeze_from_the_user_page_then_retry_pays(self, page, live):
        with live.api(ADMIN_TOKEN) as api:
            challenge_id, winners = _staked_challenge(api, winners=12, losers=3)
            frozen = winners[5]
            assert api.post(f"/users/{frozen}/freeze").status_code == 200
            username = api.get(f"/users/{frozen}").json()["username"]

        sign_in(page, live.url)
        job_id = resolve_from_the_ui(page, live.url, challenge_id)
        page.wait_for_selector(f"#failed-jobs #job-{job_id}")
        row = page.locator(f"#failed-jobs #job-{job_id}")
        assert "still frozen" in row.locator(".warning").inner_text()
        assert row.locator("button:text('Retry anyway')").count() == 1
        shot(page, "console-failed.png")

        page.goto(f"{live.url}/admin/jobs/{job_id}")
        page.click("button:text('Retry anyway')")  # the warning was shown: it runs
        page.wait_for_selector(".flash:text('Retry started')")
        page.wait_for_selector(f"#job-{job_id}[data-status=failed]")
        page.wait_for_selector("#timeline ~ ol li:has-text('Failed')")
        steps = page.locator("ol.timeline .what").all_inner_texts()
        assert steps.count("Retried the failed entries") == 1, steps
        assert steps[-1].startswith("Failed"), steps  # failed again, and says why

        page.click(f"a[href='/admin/users/{frozen}']:has-text('{username}')")
        page.wait_for_selector(f"h1:text('User #{frozen} {username}')")
        assert page.inner_text("[data-field=user-status]") == "frozen"
        shot(page, "console-user-frozen.png")
        page.click("button:text('Unfreeze')")
        assert "active again" in page.inner_text(".flash")
        assert page.inner_text("[data-field=user-status]") == "active"

        page.goto(f"{live.url}/admin/jobs/{job_id}")
        assert page.locator(".warning").count() == 0
        page.click("button:text('Retry failed entries')")
        flash = page.inner_text(".flash")
        assert f"Retry started for job {job_id[:8]}: 1 failed entry pending again" in flash
        assert job_id not in flash
        page.wait_for_selector(f"#job-{job_id}[data-status=completed]")
        page.wait_for_selector("ol.timeline li:has-text('Completed: every winner paid')")
        steps = page.locator("ol.timeline .what").all_inner_texts()
        assert steps[0] == "Resolved the challenge", steps
        assert steps.count("Retried the failed entries") == 2, steps
        assert "by " in page.inner_text("ol.timeline li:has-text('Retried')")
        shot(page, "console-job-retried.png")
        page.set_viewport_size(PHONE)
        shot(page, "console-job-retried-phone.png")
        db_books(live)

    def test_a_viewer_sees_no_unfreeze_button(self, browser, live):
        from payouts.services import tokens
        from payouts.storage.database import Database

        with live.api(ADMIN_TOKEN) as api:
            _, winners = _staked_challenge(api, winners=2, losers=1)
            assert api.post(f"/users/{winners[0]}/freeze").status_code == 200
        db = Database(live.env["PAYOUTS_DATABASE_URL"])
        try:
            with db.write() as conn:
                viewer = tokens.create_token(conn, f"viewer-{uuid.uuid4().hex[:6]}", "viewer")
        finally:
            db.dispose()
        context = browser.new_context(viewport=PHONE)
        context.set_default_timeout(WAIT_MS)
        try:
            tab = context.new_page()
            sign_in(tab, live.url, viewer)
            tab.goto(f"{live.url}/admin/users/{winners[0]}")
            assert tab.locator("button:text('Unfreeze')").count() == 0
            assert "only an admin token can unfreeze" in tab.inner_text(".notice")
        finally:
            context.close()


def db_books(server: ServerProcess) -> None:
    from payouts.storage.database import Database

    db = Database(server.env["PAYOUTS_DATABASE_URL"])
    try:
        with db.read() as conn:
            assert_books_balance(conn)
    finally:
        db.dispose()


class TestHistoryAndChart:
    def test_search_by_challenge_and_by_user_and_the_chart(self, page, live):
        with live.api(ADMIN_TOKEN) as api:
            made = []
            for _ in range(3):
                cid, winners = _staked_challenge(api, winners=6, losers=2)
                job = api.post(f"/challenges/{cid}/result", json={"result": "challenger_won"})
                made.append((cid, job.json()["payoutJobId"], winners))
            for _, job_id, _ in made:
                wait_status(api, job_id, "completed")
            cid, job_id, winners = made[1]
            user = api.get(f"/users/{winners[0]}").json()
            entries = api.get(f"/payout-jobs/{job_id}/entries").json()
            (paid,) = [e["amount"] for e in entries if e["userId"] == user["id"]]

        sign_in(page, live.url)
        page.click("nav a:text('History')")
        page.fill("#q", f"#{cid}")
        page.click("form.filters button")
        rows = page.locator("#history tbody tr")
        assert rows.count() == 1 and f"#{cid}" in rows.inner_text()

        page.fill("#q", f"@{user['username']}")
        page.click("form.filters button")
        row = page.locator(f"#history tr#job-{job_id}")
        assert row.locator("[data-field=user-amount]").inner_text().startswith(f"{paid:,}")
        shot(page, "console-history-user.png")

        page.goto(f"{live.url}/admin/history?status=completed")
        assert page.locator("#history tbody tr").count() >= 3
        page.set_viewport_size(PHONE)
        shot(page, "console-history-phone.png")
        page.set_viewport_size(DESKTOP)

        page.goto(f"{live.url}/admin/jobs")
        chart = page.locator("figure.chart[data-window=hour]")
        total = int(chart.get_attribute("data-paid") or "0")
        assert total >= 18  # the three jobs' winners, at least
        assert chart.locator("svg rect.bar").count() >= 1
        assert page.locator("figure.chart[data-window=day] svg").count() == 1
        shot(page, "console-jobs-chart.png")


def wait_status(api: Any, job_id: str, status: str) -> None:
    from tests.support.cli import wait_for

    wait_for(
        lambda: api.get(f"/payout-jobs/{job_id}/status").json()["status"] == status,
        60,
        f"job {job_id} to be {status}",
    )


class TestAccessibility:
    @pytest.mark.parametrize("scheme", ["light", "dark"])
    def test_no_serious_or_critical_axe_findings(self, browser, live, scheme):
        if not AXE.exists():
            unavailable(f"{AXE} is missing: npm ci --prefix tests/e2e/axe")
        with live.api(ADMIN_TOKEN) as api:
            cid, winners = _staked_challenge(api, winners=4, losers=1)
            assert api.post(f"/users/{winners[1]}/freeze").status_code == 200
            job_id = api.post(
                f"/challenges/{cid}/result", json={"result": "challenger_won"}
            ).json()["payoutJobId"]
            wait_status(api, job_id, "failed")
        paths = [
            "/admin/jobs",
            f"/admin/jobs/{job_id}",
            f"/admin/users/{winners[1]}",
            "/admin/history",
            f"/admin/history?q=%23{cid}",
            "/admin/challenges",
        ]
        findings = []
        for viewport in (DESKTOP, PHONE):
            # bypass_csp: the pages allow no inline script, and axe is added as one
            context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
            context.set_default_timeout(WAIT_MS)
            try:
                tab = context.new_page()
                sign_in(tab, live.url)
                for path in paths:
                    tab.goto(f"{live.url}{path}")
                    tab.add_script_tag(path=str(AXE))  # Playwright inlines it: no URL, no CDN
                    result = tab.evaluate("async () => await axe.run(document)")
                    for violation in result["violations"]:
                        if violation["impact"] in ("serious", "critical"):
                            targets = [n["target"] for n in violation["nodes"]][:3]
                            findings.append((viewport["width"], path, violation["id"], targets))
                if viewport == DESKTOP:
                    tab.goto(f"{live.url}/admin/jobs/{job_id}")
                    shot(tab, f"console-job-failed-{scheme}.png")
            finally:
                context.close()
        assert not findings, findings
