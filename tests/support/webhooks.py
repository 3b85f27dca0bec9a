"""A real webhook receiver process (tests/support/receiver.py) and what it received."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.cli import invoke


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    def __init__(self, out: Path, port: int | None = None) -> None:
        self.out = out
        self.secret = ""
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self, secret: str | None = None, *options: str) -> None:
        self.secret = secret or self.secret
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.receiver",
                str(self.port),
                self.secret,
                str(self.out),
                *options,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def records(self) -> list[dict[str, Any]]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line]

    def accepted_events(self) -> list[dict[str, Any]]:
        """The events of every request answered 2xx, in arrival order (duplicates kept)."""
        return [e for r in self.records() if r["answered"] == 200 for e in r["events"]]


def add_endpoint(database_url: str, url: str, *options: str) -> tuple[int, str]:
    """`payouts webhooks add URL`: (endpoint id, secret from the last line)."""
    added = invoke(database_url, "webhooks", "add", url, *options)
    assert added.exit_code == 0, added.output
    lines = added.stdout.strip().splitlines()
    endpoint_id = int(lines[0].split("endpoint ", 1)[1].split(" ", 1)[0])
    return endpoint_id, lines[-1]
