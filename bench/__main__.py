"""`python -m bench [--quick]`: run the benchmark suite and write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from bench.backends import DEFAULT_POSTGRES_URL
from bench.config import MODES
from bench.suite import ALL_SECTIONS, run_suite

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so the finally blocks stop the servers and workers the
    bench started and drop its databases instead of leaving them behind."""
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    # --quick and --mode share one destination; its default must be set once, for both.
    parser.set_defaults(mode="full")
    parser.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="mode",
        help="smaller sizes, a few minutes (same as --mode quick)",
    )
    parser.add_argument("--mode", choices=sorted(MODES))
    parser.add_argument("--runs", type=int, help="runs per figure (default: the mode's)")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PAYOUTS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="a server where the bench may create and drop databases"
        " [env PAYOUTS_BENCH_POSTGRES_URL]",
    )
    parser.add_argument(
        "--sections",
        default=",".join(map(str, sorted(ALL_SECTIONS))),
        help="which to run: 1 big jobs, 2 match day, 3 resolve latency, 4 time to paid,"
        " 5 status endpoint, 6 memory, 7 scale-out (PostgreSQL)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--soak",
        action="store_true",
        help="the soak run instead of the sections (bench/soak.py): mixed traffic for"
        " --soak-minutes on each backend; writes its own section of the output",
    )
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument(
        "--no-profile",
        action="store_true",
        help="don't profile payouts where it misses a throughput target",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = parse_args(argv)
    config = MODES[args.mode]
    if args.runs:
        config = dataclasses.replace(config, runs=args.runs)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("bench").setLevel(logging.INFO)
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    if args.soak:
        from bench.soak import run_soak

        passed = run_soak(backends, args.postgres_url, args.soak_minutes, args.output, command)
        sys.exit(0 if passed else 1)
    run_suite(
        config,
        backends=backends,
        postgres_url=args.postgres_url,
        sections={int(s) for s in args.sections.split(",") if s.strip()},
        output=args.output,
        profile=not args.no_profile,
        command=command,
    )


if __name__ == "__main__":
    main()
