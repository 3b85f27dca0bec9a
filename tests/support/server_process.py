"""A real `payouts serve` in a subprocess on 127.0.0.1 and a free port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN_TOKEN = "e2e-admin-token"
START_DEADLINE_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def payouts_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOUTS_")}
    env |= {"PAYOUTS_DATABASE_URL": database_url, "PAYOUTS_ADMIN_TOKEN": ADMIN_TOKEN, **extra}
    return env


def run_demo(env: dict[str, str], cwd: Path, winners: int, losers: int) -> dict[str, Any]:
    """`payouts demo`; returns its last line, the JSON summary."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "payouts",
            "demo",
            "--winners",
            str(winners),
            "--losers",
            str(losers),
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


class ServerProcess:
    """`python -m payouts serve` with its output in a log file; killed for good on exit."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "payouts", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"server exited on start:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {START_DEADLINE_SECONDS}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, a transaction in flight is simply cut off."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=30)
        self._process = None

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5_000:]
