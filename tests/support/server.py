"""The one way the tests run a server: `payouts serve` as a real process (ServerProcess),
or an app in a thread of this process (`running`), each on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from bench.processes import free_port
from fastapi import FastAPI

from tests.support.tokens import ADMIN_TOKEN

START_DEADLINE_SECONDS = 60.0  # a deadline for start-up, not a speed check

__all__ = ["ServerProcess", "free_port", "running"]


class ServerProcess:
    """`python -m payouts serve` with its output in a log file; stopped (or killed) for
    good at the end. Start it with `with ServerProcess(...) as server:` or start()/stop()."""

    def __init__(self, env: dict[str, str], log_path: Path, cwd: Path | None = None) -> None:
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "payouts", "serve", "--host", "127.0.0.1"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"payouts serve exited on start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"payouts serve not ready in {START_DEADLINE_SECONDS}s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM: a clean shutdown (SIGKILL if it takes more than 15 s)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process = None

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, a transaction in flight is simply cut off."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self._process.pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=30)
        self._process = None

    def client(self, token: str = ADMIN_TOKEN) -> httpx.Client:
        """A client of the whole server (paths start with /api/admin/...)."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def api(self, token: str = ADMIN_TOKEN) -> httpx.Client:
        """A client of the JSON API (paths start after /api/admin)."""
        return httpx.Client(
            base_url=f"{self.url}/api/admin",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5_000:]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve `app` in a thread of this process until the block ends; yields its base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    app.state.server = server  # as `payouts serve` does: event streams end when it stops
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
