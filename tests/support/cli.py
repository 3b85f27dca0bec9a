"""The one way the tests run the `payouts` command: as a real process (`run_payouts`,
`start_payouts`, `demo`) or, for output checks, in this process (`invoke`)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.processes import payouts_env as _bench_env
from typer.testing import CliRunner, Result

from payouts.cli import app
from payouts.config import Settings
from tests.support.tokens import ADMIN_TOKEN


def payouts_env(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a `payouts` process on this database, with the tests' admin
    token and the given settings (`batch_size=50` is PAYOUTS_BATCH_SIZE=50)."""
    return _bench_env(database_url, admin_token=ADMIN_TOKEN, **settings)


def run_payouts(
    target: Settings | dict[str, str],
    *args: str,
    check: bool = False,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `payouts ARGS` to completion, on the settings' database (or with an environment
    from payouts_env())."""
    env = target if isinstance(target, dict) else payouts_env(target.database_url)
    return subprocess.run(
        [sys.executable, "-m", "payouts", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def demo(env: dict[str, str], winners: int, losers: int, cwd: Path | None = None) -> dict[str, Any]:
    """`payouts demo`: the JSON summary it prints last (challengeId, winners, ...)."""
    done = run_payouts(env, "demo", "--winners", str(winners), "--losers", str(losers), cwd=cwd)
    assert done.returncode == 0, f"payouts demo failed:\n{done.stderr}"
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def start_payouts(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`payouts ARGS` in the background (a worker, say), its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "payouts", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def invoke(database_url: str, *args: str, **env: str) -> Result:
    """`payouts ARGS` inside this process (Typer's runner), for checking its output."""
    environment = {"PAYOUTS_DATABASE_URL": database_url, "COLUMNS": "200", **env}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(app, list(args), env=environment)
    finally:
        # a command that configures logging points it at the runner's stderr, closed now
        root.handlers[:], root.level = handlers, level


def wait_for(condition: Callable[[], bool], deadline_seconds: float, what: str) -> None:
    """Poll until `condition()` holds; a generous deadline, not a timing assertion."""
    deadline = time.monotonic() + deadline_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {deadline_seconds}s")
        time.sleep(0.1)
