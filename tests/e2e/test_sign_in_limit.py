"""The admin UI's sign-in after too many wrong tokens, in a real browser: the page says to
wait, and even the right token is refused until the cool-down ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_admin_ui import ARTIFACTS, browser, page  # noqa: F401 (fixtures)
from tests.support.cli import payouts_env
from tests.support.server import ServerProcess
from tests.support.tokens import ADMIN_TOKEN

pytestmark = pytest.mark.browser
LIMIT = 3


def test_after_too_many_wrong_tokens_the_sign_in_page_says_to_wait(page, tmp_path: Path):  # noqa: F811
    env = payouts_env(f"sqlite:///{tmp_path / 'payouts.db'}", auth_failures_per_minute=LIMIT)
    with ServerProcess(env, tmp_path / "serve.log", cwd=tmp_path) as live:
        page.goto(f"{live.url}/admin/challenges")
        for n in range(LIMIT):
            page.fill("#token", f"guess-{n}")
            page.click("form[action='/admin/login'] button[type=submit]")
            assert "That token was not accepted" in page.inner_text("#login-error")
        page.fill("#token", ADMIN_TOKEN)
        page.click("form[action='/admin/login'] button[type=submit]")
        message = page.inner_text("#login-error")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sign-in-wait.png"), full_page=True)
        assert "Too many failed sign-ins from your address. Wait 60 seconds" in message
        assert not [c for c in page.context.cookies() if c["name"] == "payouts_admin"]
        page.goto(f"{live.url}/admin/jobs")  # every page of the UI, until the cool-down ends
        assert "Too many failed sign-ins" in page.inner_text("#login-error")
