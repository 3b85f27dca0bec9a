"""A real webhook receiver process (bench/receiver_process.py) and endpoints added by the CLI."""

from __future__ import annotations

from bench.processes import free_port
from bench.receiver_process import Receiver

from tests.support.cli import invoke

__all__ = ["Receiver", "add_endpoint", "free_port"]


def add_endpoint(database_url: str, url: str, *options: str) -> tuple[int, str]:
    """`payouts webhooks add URL`: (endpoint id, secret from the last line)."""
    added = invoke(database_url, "webhooks", "add", url, *options)
    assert added.exit_code == 0, added.output
    lines = added.stdout.strip().splitlines()
    endpoint_id = int(lines[0].split("endpoint ", 1)[1].split(" ", 1)[0])
    return endpoint_id, lines[-1]
