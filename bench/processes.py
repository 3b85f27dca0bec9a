"""Real payouts processes for the bench: `payouts serve` and `payouts worker`, each bound to
127.0.0.1 on a port the OS picks, and stopped (never left running) when the bench is done.

The bench talks to them only through their stable surfaces: the command line, PAYOUTS_*
settings, the HTTP API, and what /proc says about a process (whether it is idle)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

ADMIN_TOKEN = "bench-admin-token"
HOST = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the tests use it too)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def payouts_env(database_url: str, **settings: object) -> dict[str, str]:
    """This process's environment without its PAYOUTS_* settings, plus the given ones
    (`batch_size=50` is PAYOUTS_BATCH_SIZE=50; admin_token defaults to the bench's). The
    tests use it too."""
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

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM: it finishes the batch in flight); `stop()` waits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

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


def stop_all(processes: Sequence[PayoutsProcess]) -> None:
    """Stop them together: each gets SIGTERM at once, then each is waited for."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(
    processes: Sequence[PayoutsProcess],
    *,
    timeout: float = 90.0,
    window: float = 0.25,
    windows: int = 3,
    busy_share: float = 0.05,
) -> None:
    """Until every process has used under `busy_share` of a core for `windows` windows in a
    row: started, migrated, and waiting for work. This reads the kernel's CPU accounting, not
    a log line, so it holds whatever the workers print."""
    deadline = time.monotonic() + timeout
    quiet = 0
    last = {p.pid: cpu_seconds(p.pid) for p in processes}
    while quiet < windows:
        if time.monotonic() > deadline:
            raise TimeoutError(f"payouts processes still busy after {timeout:.0f} s")
        time.sleep(window)
        for p in processes:
            if p.process.poll() is not None:
                raise RuntimeError(f"payouts {' '.join(p.args)} exited early; see {p.log_path}")
        now = {p.pid: cpu_seconds(p.pid) for p in processes}
        busy = any(now[pid] - last[pid] > busy_share * window for pid in now)
        quiet = 0 if busy else quiet + 1
        last = now


class Client:
    """A keep-alive HTTP/1.1 client on the standard library: little overhead of its own."""

    # uvicorn closes a keep-alive connection idle for 5 s; reconnect before it does.
    IDLE_SECONDS = 2.0

    def __init__(self, port: int, server: PayoutsProcess | None = None) -> None:
        self.port = port
        self.server = server
        self._conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self._headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self._last_used = time.monotonic()

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, object]:
        if time.monotonic() - self._last_used > self.IDLE_SECONDS:
            self._conn.close()  # the next request opens a new connection
        headers = {**self._headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        self._last_used = time.monotonic()
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data.decode(errors="replace")

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
        client = Client(port, server)
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
) -> list[PayoutsProcess]:  # fmt: skip
    """`count` separate `payouts worker` processes."""
    env = payouts_env(database_url, **settings)
    args = ["worker", "--once"] if once else ["worker"]
    started: list[PayoutsProcess] = []
    try:
        for n in range(count):
            log_path = log_dir / f"worker-{os.getpid()}-{time.monotonic_ns()}-{n}.log"
            started.append(PayoutsProcess(args, env, log_path))
    except BaseException:
        stop_all(started)
        raise
    return started


@contextmanager
def service(
    database_url: str, log_dir: Path, *, worker_processes: int, **settings: object
) -> Iterator[Client]:
    """payouts as deployed, idle and ready: with `worker_processes` = 0, one `payouts serve`
    with its embedded worker; otherwise `payouts serve --no-worker` plus that many
    `payouts worker` processes. Yields a client of the server once every process is idle."""
    with serve(database_url, log_dir, worker=worker_processes == 0, **settings) as client:
        server = client.server
        assert server is not None
        started = workers(database_url, log_dir, worker_processes, once=False, **settings)
        try:
            wait_idle([server, *started])
            yield client
        finally:
            server.terminate()  # all of them at once; serve() then waits for the server
            stop_all(started)


def resolve_http(
    client: Client, challenge_id: int, result: str = "challenger_won", key: str | None = None
) -> tuple[str, float]:
    """POST the result; (the job id, the seconds the request took)."""
    started = time.perf_counter()
    status, body = client.request(
        "POST",
        f"/api/admin/challenges/{challenge_id}/result",
        {"result": result},
        {"Idempotency-Key": key} if key else None,
    )
    seconds = time.perf_counter() - started
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"resolve of challenge {challenge_id} answered {status}: {body}")
    return str(body["payoutJobId"] or body["refundJobId"]), seconds


def job_status(client: Client, job_id: str) -> dict[str, object]:
    status, body = client.request("GET", f"/api/admin/payout-jobs/{job_id}/status")
    if status != 200 or not isinstance(body, dict):
        raise RuntimeError(f"status of job {job_id} answered {status}: {body}")
    return body


def paying(status: dict[str, object]) -> bool:
    return status["processedWinners"] != 0


def completed(status: dict[str, object]) -> bool:
    if status["status"] == "failed":
        raise RuntimeError(f"job {status.get('jobId')} failed: {status}")
    return status["status"] == "completed"


def wait_for_job(
    client: Client,
    job_id: str,
    done: Callable[[dict[str, object]], bool],
    *,
    timeout: float,
    step: float | None = None,
) -> None:
    """Poll the job's status until `done(status)`: every `step` seconds, or, without one,
    every 1% of the time waited so far (5 ms to 100 ms), so a long wait costs the server
    few requests and still ends within 1% of the job."""
    started = time.monotonic()
    while not done(job_status(client, job_id)):
        waited = time.monotonic() - started
        if waited > timeout:
            raise TimeoutError(f"timed out waiting on job {job_id}")
        time.sleep(step if step is not None else min(0.1, max(0.005, waited / 100)))
