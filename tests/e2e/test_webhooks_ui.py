"""The admin UI's webhooks page in a real browser, against `payouts serve` (its embedded
worker delivers): an endpoint that refuses connections shows its failed delivery, and the
Resend button sends it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_admin_ui import ARTIFACTS, _env, _staked_challenge, browser, page, sign_in
from tests.support.cli import run_payouts
from tests.support.server import ServerProcess
from tests.support.tokens import ADMIN_TOKEN
from tests.support.webhooks import free_port

pytestmark = pytest.mark.browser
__all__ = ["browser", "page"]  # the fixtures, shared with the admin UI tests


def test_a_failed_delivery_is_shown_and_resent(page, tmp_path: Path) -> None:
    env = _env(tmp_path, webhook_max_attempts=1)
    run_payouts(env, "migrate", check=True)
    with ServerProcess(env, tmp_path / "serve.log") as server, server.api(ADMIN_TOKEN) as api:
        made = api.post(
            "/webhooks",
            json={"url": f"http://127.0.0.1:{free_port()}/hooks", "description": "mobile app"},
        )
        assert made.status_code == 201, made.text
        endpoint = made.json()["id"]
        challenge_id, _ = _staked_challenge(api, winners=3, losers=1)
        assert (
            api.post(
                f"/challenges/{challenge_id}/result", json={"result": "challenger_won"}
            ).status_code
            == 200
        )

        sign_in(page, server.url)
        page.goto(f"{server.url}/admin/webhooks")
        row = page.locator(f"#endpoint-{endpoint}")
        assert "mobile app" in row.inner_text()
        for _ in range(40):  # the embedded worker fails the delivery at its first attempt
            if page.locator("section.failed-deliveries form button").count():
                break
            page.wait_for_timeout(250)
            page.reload()
        assert "ConnectError" in page.locator(f"#endpoint-{endpoint}").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "admin-webhooks.png"), full_page=True)
        page.click("section.failed-deliveries form button")
        page.wait_for_selector("p.flash:text('will be sent again')")
