"""A load generator for the status endpoint, run as its own process (`python -m
bench.pollers`) so it does not share a CPU-bound interpreter with the server or the bench.

N pollers, each with its own keep-alive connection, GET the path over and over: with
--interval 0 each sends its next request as soon as the last one answers (closed loop, like
`wrk -c N`); with --interval S each polls every S seconds (the seed's admin UI: 2 s).
Latency is measured from writing the request to reading the whole body. Prints one JSON
object: {"latencies_ms": [...], "errors": n, "seconds": s}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time


async def _poller(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    interval: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    if interval:
        await asyncio.sleep(random.uniform(0, interval))  # spread the pollers out
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if b" 200 " not in status_line:
                errors.append(status_line.decode(errors="replace").strip())
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    finally:
        writer.close()


async def _run(args: argparse.Namespace) -> dict[str, object]:
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Authorization: Bearer {args.token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    stop_at = started + args.seconds
    await asyncio.gather(
        *(
            _poller(args.host, args.port, request, stop_at, args.interval, latencies, errors)
            for _ in range(args.concurrency)
        )
    )
    return {
        "latencies_ms": latencies,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.0)
    args = parser.parse_args(argv)
    json.dump(asyncio.run(_run(args)), sys.stdout)


if __name__ == "__main__":
    main()
