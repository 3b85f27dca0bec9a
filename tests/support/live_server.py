"""A real `payouts serve` subprocess on a temp database and a free 127.0.0.1 port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_DEADLINE_SECONDS = 60  # a deadline for start-up, not a speed check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def payouts_env(database_url: str, admin_token: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOUTS_")}
    env.update(PAYOUTS_DATABASE_URL=database_url, PAYOUTS_ADMIN_TOKEN=admin_token)
    env.update({f"PAYOUTS_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def payouts(env: dict[str, str], *args: str) -> str:
    """Run a `payouts` command to completion; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "payouts", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"payouts {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def demo(env: dict[str, str], winners: int, losers: int) -> int:
    """`payouts demo`: its challenge id, from the JSON line it prints last."""
    out = payouts(env, "demo", "--winners", str(winners), "--losers", str(losers))
    return int(json.loads(out.strip().splitlines()[-1])["challengeId"])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/admin", headers={"Authorization": f"Bearer {token}"}
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(env: dict[str, str], log: Path) -> LiveServer:
    port = free_port()
    env = {**env, "PAYOUTS_HOST": "127.0.0.1", "PAYOUTS_PORT": str(port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "payouts", "serve"], env=env, stdout=sink, stderr=sink
        )
    server = LiveServer(f"http://127.0.0.1:{port}", env, process, log)
    deadline = time.monotonic() + READY_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"payouts serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"payouts serve did not answer:\n{log.read_text()}")
        time.sleep(0.1)
