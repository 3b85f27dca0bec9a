"""The console table and bench/RESULTS.md (rewritten on every run)."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.findings import PROFILE_CONCLUSIONS, finding
from bench.results import Row

# What each timing includes and leaves out, as the tables alone can't say it.
METHOD_NOTES = {
    "1. Big jobs": [
        "Winners paid per second over the whole job, at the default batch size (500): from"
        " just before the resolve to the job completed (fee booked). Each run pays its own"
        " fresh copy of the same demo data (`payouts demo` logic; planner statistics"
        " gathered), so every method starts from the same rows. Issue 10's rate targets are"
        " for 1,000,000 winners; smaller modes show them against their own size.",
        "**payouts**, as deployed: PostgreSQL, `payouts serve --no-worker` plus 1 or 2"
        " `payouts worker` processes; SQLite, `payouts serve` with its embedded worker. The"
        " processes are started and idle (CPU quiet) first; then `POST"
        " /api/admin/challenges/{id}/result`, and the status endpoint is polled (every 1% of"
        " the time waited, 5-100 ms) until it answers `completed`.",
        "**floor** (bench/floor.py): the leanest correct set-based SQL known for the job, in"
        " the bench process: a plan step (the extra-coin cutoff), then per batch of 500"
        " winners taken by user id from the stakes, one transaction computes each amount in"
        " SQL (64-bit where winner_pool x stake fits, exact otherwise), credits the"
        " balances, inserts the entries already completed with their ledger rows, and adds to"
        " the job's counters; the last batch books the fee. No pending entries first. One"
        " payer, no locks, no frozen-user check: payouts can't quite reach it.",
        "**seed algorithm** (bench/seed_algorithm.py): its own pending entries (one"
        " INSERT ... SELECT from the stakes, as the seed made them at resolve time; timed),"
        " then one database transaction per winner (read balance, write balance, insert"
        " ledger row, mark entry, bump job progress). Its 5-minute sweep is left out. At"
        " large sizes it pays a sample of the first winners and the job time is"
        " extrapolated: materialise time + winners x (sample time / sample size).",
        "Ratios are per run (payouts and the baselines of the same run), then the median;"
        " on PostgreSQL they compare the one-process run with the one-payer baselines.",
    ],
    "2. Match day": [
        "Small challenges (bench/matchday.py): 2 winners for 60% of them, 3-5 for 20%, 6-20"
        " for 15%, 21-50 for 5% (about 5.7 on average), 1 to W losers, all players drawn"
        " from one shared pool (4,000 players for 2,000 challenges), so one player wins in"
        " several challenges; stakes log-uniform 10-100,000 coins. Each run uses a fresh"
        " copy of the same data and ends with `find_violations` (the books balance).",
        "**Settle**: `payouts worker` processes (2 on PostgreSQL, 1 on SQLite) are started"
        " and idle; the bench then queues all the small jobs in ONE transaction"
        " (`payouts.services.challenges.resolve` per challenge inside one `db.write()`)."
        " t0 = that commit; t1 = the last job's `completed_at` (cross-checked against a"
        " poll of the jobs table, which must see no job left). Every job must end"
        " `completed`.",
        "**Burst**: payouts as deployed (SQLite: `payouts serve` with its embedded worker;"
        " PostgreSQL: `serve --no-worker` plus 2 `payouts worker`), idle. A separate load"
        " process (bench/burst.py, asyncio, one keep-alive connection per client) runs 6"
        " clients that `POST /api/admin/challenges/{id}/result` (own `Idempotency-Key` each)"
        " for the next small challenge until none is left, while a 7th posts stake requests"
        " (1-3 stakes of 1-100 coins) on 20 other open challenges in a loop. One warm-up"
        " resolve per client first, not counted. Rate = resolves / (first timed send to last"
        " answer); latency per resolve from its first send to its answer (a 503 is retried"
        " with the same key and counted in).",
        "**Bulk**: the same deployment, idle; one `POST /api/admin/challenges/results` with"
        " 1,000 `{challengeId, result}` items, timed by the client; it must answer 200 with"
        " 1,000 resolutions and leave 1,000 resolved challenges and jobs. A build without the"
        " route (404/405) shows the row as not measured.",
    ],
    "3. Resolve latency": [
        "`POST /api/admin/challenges/{id}/result` against `payouts serve --no-worker`,"
        " timed by the client (keep-alive HTTP on 127.0.0.1), one request at a time,"
        " while a separate `payouts worker` process pays a big background job (it has"
        " paid at least one batch before the first resolve). The resolved jobs queue"
        " behind it and the worker starts on them too. Sizes are interleaved. Challenges"
        " of one size share their players (stakes cloned), so many big ones are cheap"
        " to set up. With few challenges per run, p99 is the slowest of them. Issue 10's"
        " p99 targets are for the largest size: < 20 ms on PostgreSQL, < 50 ms on SQLite.",
    ],
    "4. Time to paid": [
        "A 10-winner challenge against `payouts serve` with its embedded worker (started and"
        " idle; woken by the API after the commit): from sending the resolve to the status"
        " endpoint answering `completed`, polled every 5 ms. Challenges one after another.",
    ],
    "5. Status endpoint": [
        "`GET /api/admin/payout-jobs/{id}/status` from a second process (bench/pollers.py:"
        " asyncio, one keep-alive connection per poller) against `payouts serve"
        " --no-worker`, while a separate `payouts worker` pays that job. Closed loop:"
        " every poller asks again as soon as it is answered (like `wrk -c 100`), so"
        " latency = pollers / throughput. Paced: each poller every 2 s, as the seed's UI.",
    ],
    "6. Memory": [
        "Peak resident set of a `payouts worker --once` process paying the whole job"
        " (ru_maxrss of that child from os.wait4).",
    ],
    "7. Scale-out": [
        "PostgreSQL only. N `payouts worker` processes (one loop each) are started and"
        " idle; then resolve (the service, from the bench), and the job is timed to"
        " completed. Issue 10's targets for 1 and 2 processes are in section 1.",
    ],
}


@dataclass
class Report:
    mode: str
    command: str
    started: datetime
    seconds: float
    backends: dict[str, str]  # name -> version
    skipped: list[str]
    rows: list[Row]
    notes: list[str]
    profiles: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x" if value < 100 else f"{value:,.0f}x"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit == "load":
        return f"{value:.1f}"
    return f"{value:,.0f} {unit}"


def _spread(row: Row) -> str:
    if not row.measured:
        return "n/a"
    s = row.spread
    low, high = fmt(s.low, row.unit), fmt(s.high, row.unit)
    unit = {"x": "x", "load": ""}.get(row.unit, " " + row.unit)
    return f"{low.removesuffix(unit)} - {high}"


def console_table(rows: Sequence[Row]) -> str:
    header = ("section", "backend", "measurement", "median", "spread (min - max)", "target", "")
    lines = [header]
    for r in rows:
        target = r.target.text if r.target else ""
        lines.append(
            (r.section, r.backend, r.what, fmt(r.spread.median, r.unit), _spread(r), target,
             r.verdict)
        )  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def git_commit() -> str:
    """The commit the bench ran on (with `+changes` when the work tree differs)."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +changes" if dirty else "")


def machine() -> list[tuple[str, str]]:
    model = ""
    meminfo = ""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
             if line.startswith("model name")),
            "",
        )  # fmt: skip
        kib = next(
            int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )  # fmt: skip
        meminfo = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return [
        ("CPU cores", f"{os.cpu_count()}" + (f" ({model})" if model else "")),
        ("memory", meminfo or "unknown"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
    ]


def markdown(report: Report) -> str:
    out = [
        "# Benchmark results",
        "",
        f"Written by `{report.command}` (mode **{report.mode}**) on"
        f" {report.started:%Y-%m-%d %H:%M} UTC at commit {git_commit()}; the run took"
        f" {report.seconds / 60:.1f} min."
        " Every figure is the median over the runs, with the lowest and highest run beside"
        " it. Targets are from issues 5 and 10; PASS/MISS compares the median; N/A: not"
        " measured (the row's note says why).",
        "",
    ]
    cores = os.cpu_count() or 1
    if max(report.load_before[0], report.load_after[0]) > cores * 0.5:
        out += [
            f"> The machine was busy with other work (load average {report.load_before[0]:.1f}"
            f" at the start, {report.load_after[0]:.1f} at the end, on {cores} cores): treat"
            " these figures as noisy and rerun on a quiet machine.",
            "",
        ]
    out += ["## Machine", "", "| | |", "| --- | --- |"]
    for name, value in machine():
        out.append(f"| {name} | {value} |")
    for name, version in report.backends.items():
        out.append(f"| {name} | {version} |")
    out.append(
        f"| load average (1 min) | {report.load_before[0]:.2f} at start,"
        f" {report.load_after[0]:.2f} at end |"
    )
    out.append("")
    for skipped in report.skipped:
        out += [f"> {skipped}", ""]
    targeted = [r for r in report.rows if r.target]
    if targeted:
        passed = sum(r.verdict == "PASS" for r in targeted)
        measured = sum(r.measured for r in targeted)
        unmeasured = len(targeted) - measured
        out += [
            "## Targets",
            "",
            f"{passed} of {measured} targets met"
            + (f" ({unmeasured} not measured: see N/A)." if unmeasured else "."),
            "",
            "| section | backend | measurement | median | target | |",
            "| --- | --- | --- | ---: | --- | --- |",
        ]
        for r in targeted:
            out.append(
                f"| {r.section} | {r.backend} | {r.what} | {fmt(r.spread.median, r.unit)} |"
                f" {r.target.text if r.target else ''} | {r.verdict} |"
            )
        out.append("")
    sections = list(dict.fromkeys(r.section for r in report.rows))
    for section in sections:
        out += [f"## {section}", ""]
        for note in METHOD_NOTES.get(section, []):
            out += [f"- {note}"]
        out += [
            "",
            "| backend | measurement | median | spread (min - max) | runs | target | | note |",
            "| --- | --- | ---: | --- | ---: | --- | --- | --- |",
        ]
        for r in (r for r in report.rows if r.section == section):
            out.append(
                f"| {r.backend} | {r.what} | {fmt(r.spread.median, r.unit)} | {_spread(r)} |"
                f" {r.spread.runs} | {r.target.text if r.target else ''} | {r.verdict} |"
                f" {r.note} |"
            )
        out.append("")
    out += ["## What the profiles showed (issue 10)", ""]
    out += [f"- {conclusion}" for conclusion in PROFILE_CONCLUSIONS] + [""]
    if report.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in report.notes] + [""]
    missed = list(dict.fromkeys((r.section, r.backend) for r in report.rows if r.verdict == "MISS"))
    if missed:
        out += ["## Where targets are missed, and why", ""]
        for section, backend in missed:
            text = finding(section, backend) or "Not diagnosed yet: profile it (see Profiles)."
            out += [f"**{section}, {backend}.** {text}", ""]
    if report.profiles:
        out += ["## Profiles", ""]
        for profile in report.profiles:
            out += [profile, ""]
    return "\n".join(out).rstrip() + "\n"


def now() -> datetime:
    return datetime.now(UTC)
