"""Running the `payouts` command as a real process against the test's database."""

from __future__ import annotations

import os
import subprocess
import sys

from payouts.config import Settings


def run_payouts(
    settings: Settings, *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAYOUTS_DATABASE_URL": settings.database_url,
        "PAYOUTS_ADMIN_TOKEN": settings.admin_token or "",
    }
    return subprocess.run(
        [sys.executable, "-m", "payouts", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )
