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

from bench import latency, memory, scaleout, throughput
from bench.backends import Backend, PostgresBackend, PostgresUnavailable, SqliteBackend
from bench.config import BenchConfig
from bench.data import DataSets
from bench.profile import explain_postgres_batch, profile_payouts
from bench.report import Report, console_table, markdown, now
from bench.restarts import surviving_restarts
from bench.results import SectionResult

log = logging.getLogger("bench")
ALL_SECTIONS = frozenset(range(1, 7))


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
            result = throughput.run(data, config)
            take(result)
            for winners, batch in result.to_profile if profile else []:
                found = profile_payouts(data, winners, batch)
                if found is not None:
                    report.profiles.append(found.markdown())
                plan = explain_postgres_batch(data, winners, batch)
                if plan is not None:
                    report.profiles.append(plan)
        if {2, 3, 4} & set(sections):
            latency_data = surviving_restarts(
                backend,
                "building the latency data",
                partial(latency.build_data_set, backend, config),
            )
            try:
                if 2 in sections:
                    take(latency.measure_resolves(backend, latency_data, config, log_dir))
                if 3 in sections:
                    take(latency.measure_time_to_paid(backend, latency_data, config, log_dir))
                if 4 in sections:
                    take(latency.measure_status(backend, latency_data, config, log_dir))
            finally:
                backend.drop(latency_data.url)
        if 5 in sections:
            take(memory.run(data, config, log_dir))
        if 6 in sections and backend.name == "postgres":
            take(scaleout.run(data, config, log_dir))
    finally:
        data.close()


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
        output.write_text(markdown(report))
        log.info("wrote %s", output)
    return report
