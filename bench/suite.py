"""Runs the sections on each backend and writes the report."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path

from bench import latency, matchday, memory, scaleout, soak, throughput
from bench.backends import Backend, PostgresBackend, PostgresUnavailable, SqliteBackend
from bench.config import BenchConfig
from bench.data import DataSets
from bench.report import Report, console_table, markdown, now
from bench.restarts import surviving_restarts
from bench.results import SectionResult

log = logging.getLogger("bench")
# 1 big jobs, 2 match day, 3 resolve latency, 4 time to paid, 5 status endpoint, 6 memory,
# 7 scale-out (PostgreSQL only)
ALL_SECTIONS = frozenset(range(1, 8))


def _backend(name: str, postgres_url: str) -> Backend:
    if name == "sqlite":
        return SqliteBackend()
    if name == "postgres":
        return PostgresBackend(postgres_url)
    raise ValueError(f"unknown backend {name!r}")


def _run_backend(
    backend: Backend,
    config: BenchConfig,
    sections: Collection[int],
    log_dir: Path,
    profile: bool,
    report: Report,
) -> None:
    data = DataSets(backend)

    def take(result: SectionResult) -> None:
        report.rows.extend(result.rows)
        report.notes.extend(result.notes)

    try:
        if 1 in sections:
            result = throughput.run(data, config, log_dir)
            take(result)
            if profile and result.to_profile:
                report.profiles.extend(_profiles(data, result.to_profile))
        if 2 in sections:
            take(matchday.run(backend, config, log_dir))
        if {3, 4, 5} & set(sections):
            latency_data = surviving_restarts(
                backend,
                "building the latency data",
                partial(latency.build_data_set, backend, config),
            )
            try:
                if 3 in sections:
                    take(latency.measure_resolves(backend, latency_data, config, log_dir))
                if 4 in sections:
                    take(latency.measure_time_to_paid(backend, latency_data, config, log_dir))
                if 5 in sections:
                    take(latency.measure_status(backend, latency_data, config, log_dir))
            finally:
                backend.drop(latency_data.url)
        if 6 in sections:
            take(memory.run(data, config, log_dir))
        if 7 in sections and backend.name == "postgres":
            take(scaleout.run(data, config, log_dir))
    finally:
        data.close()


def _profiles(data: DataSets, runs: list[tuple[int, int]]) -> list[str]:
    """Profiles of payouts' worker where it missed the floor. bench/profile.py reaches into
    the engine's internals, so it is imported only here, and a bench whose engine no longer
    has them still runs, without profiles."""
    try:
        from bench.profile import explain_postgres_batch, profile_payouts
    except ImportError as exc:
        log.warning("no profiles: bench/profile.py does not fit this engine (%s)", exc)
        return []
    found = []
    for winners, batch in runs:
        try:  # a diagnostic: it must never fail the bench
            profile = profile_payouts(data, winners, batch)
            plan = explain_postgres_batch(data, winners, batch)
        except Exception:
            log.warning("profiling payouts failed; no profile", exc_info=True)
            continue
        if profile is not None:
            found.append(profile.markdown())
        if plan is not None:
            found.append(plan)
    return found


def run_suite(
    config: BenchConfig,
    *,
    backends: Sequence[str] = ("sqlite", "postgres"),
    postgres_url: str,
    sections: Collection[int] = ALL_SECTIONS,
    output: Path | None = None,
    profile: bool = True,
    command: str = "python -m bench",
) -> Report:
    started = time.perf_counter()
    report = Report(
        mode=config.mode,
        command=command,
        started=now(),
        seconds=0.0,
        backends={},
        skipped=[],
        rows=[],
        notes=[],
        load_before=os.getloadavg(),
    )
    log_dir = Path(tempfile.mkdtemp(prefix="payouts-bench-logs-"))
    failed = True
    try:
        for name in backends:
            try:
                backend = _backend(name, postgres_url)
            except PostgresUnavailable as exc:
                message = f"PostgreSQL skipped: {exc}"
                log.warning(message)
                report.skipped.append(message)
                continue
            report.backends[backend.name] = backend.version()
            try:
                _run_backend(backend, config, sections, log_dir, profile, report)
            finally:
                backend.close()
        failed = False
    finally:
        if failed:
            log.error("the bench failed; server and worker logs are in %s", log_dir)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    report.load_after = os.getloadavg()
    print(console_table(report.rows))
    if output is not None:
        output.write_text(markdown(report) + soak.kept_section(output))  # keep the soak's
        log.info("wrote %s", output)
    return report
