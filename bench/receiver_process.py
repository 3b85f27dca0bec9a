"""Runs bench/webhook_receiver.py as a process and reads what it received (tests and bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.processes import free_port


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
                "bench.webhook_receiver",
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
        # the last line may be half written while the receiver runs: only whole lines
        *whole, _partial = self.out.read_text().split("\n")
        return [json.loads(line) for line in whole if line]

    def accepted_events(self) -> list[dict[str, Any]]:
        """The events of every request answered 2xx, in arrival order (duplicates kept)."""
        return [e for r in self.records() if r["answered"] == 200 for e in r["events"]]
