"""The `payouts` command: a module per command group.

- service: serve, worker, migrate, demo
- jobs: jobs, entries, trigger, retry, watch (what operators did with SQL by hand)
- resolve: resolve --file (a settlement feed's results)
- tokens: tokens create | list | revoke
- audit: audit-log
- verify: verify
- events: events (the event feed); webhooks: webhooks add | list | remove | ...
- backup: backup, restore (SQLite; PostgreSQL: pg_dump)
- processing: pause, resume
"""

from __future__ import annotations

import typer

from payouts.cli import (
    audit,
    backup,
    events,
    jobs,
    processing,
    resolve,
    service,
    tokens,
    verify,
    webhooks,
)

app = typer.Typer(
    help="Pays out the winners of resolved challenges.", no_args_is_help=True, add_completion=False
)
for group in (service, jobs, resolve, tokens, audit, verify, events, webhooks, backup, processing):
    group.register(app)


def main() -> None:
    app()
