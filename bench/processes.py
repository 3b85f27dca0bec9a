"""Real payouts processes for the bench: `payouts serve` and `payouts worker`, each bound to
127.0.0.1 on a port the OS picks, and stopped (never left running) when the bench is done."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

ADMIN_TOKEN = "bench-admin-token"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def payouts_env(database_url: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYOUTS_")}
    env["PAYOUTS_DATABASE_URL"] = database_url
    env["PAYOUTS_ADMIN_TOKEN"] = ADMIN_TOKEN
    for name, value in settings.items():
        env[f"PAYOUTS_{name.upper()}"] = str(value)
    return env


class PayoutsProcess:
    """`python -m payouts <args>` with its output in a log file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "payouts", *self.args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> PayoutsProcess:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class Client:
    """A keep-alive HTTP/1.1 client on the standard library: little overhead of its own."""

    # uvicorn closes a keep-alive connection idle for 5 s; reconnect before it does.
    IDLE_SECONDS = 2.0

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self._headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self._last_used = time.monotonic()

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        if time.monotonic() - self._last_used > self.IDLE_SECONDS:
            self._conn.close()  # the next request opens a new connection
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        self._last_used = time.monotonic()
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self._conn.close()


@contextmanager
def serve(
    database_url: str, log_dir: Path, *, worker: bool, **settings: object
) -> Iterator[Client]:
    """A `payouts serve` process, healthy, and a client for it."""
    port = free_port()
    args = ["serve", "--host", HOST, "--port", str(port), "--worker" if worker else "--no-worker"]
    env = payouts_env(database_url, **settings)
    with PayoutsProcess(args, env, log_dir / f"serve-{port}.log") as server:
        client = Client(port)
        try:
            _wait_healthy(client, server)
            yield client
        finally:
            client.close()


def _wait_healthy(client: Client, server: PayoutsProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"payouts {' '.join(server.args)} exited early; see its log")
        try:
            status, _ = client.request("GET", "/healthz")
            if status == 200:
                return
        except OSError:
            client.close()
        time.sleep(0.1)
    raise RuntimeError("payouts serve did not become healthy in time")


def workers(
    database_url: str, log_dir: Path, count: int, *, once: bool = False, **settings: object
) -> list[PayoutsProcess]:
    """`count` separate `payouts worker` processes."""
    env = payouts_env(database_url, **settings)
    args = ["worker", "--once"] if once else ["worker"]
    started = []
    for n in range(count):
        log_path = log_dir / f"worker-{os.getpid()}-{time.monotonic_ns()}-{n}.log"
        started.append(PayoutsProcess(args, env, log_path))
    return started
