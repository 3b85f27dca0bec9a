"""`payouts webhooks add | list | remove | disable | enable | test | deliveries | resend`.

Bad input (not an http(s) URL, an unknown event type, a duplicate URL, an unknown id)
exits 2 with a message and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer

from payouts.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    existing_database,
    fail,
    print_json,
    record,
    record_refusal,
    settings,
)
from payouts.config import Settings
from payouts.domain.errors import PayoutsError
from payouts.services import audit, webhooks
from payouts.storage.database import Database
from payouts.web.statuses import status_of

webhooks_app = typer.Typer(
    help="Webhook endpoints: signed POSTs of the events (docs/events.md).", no_args_is_help=True
)
EndpointId = Annotated[int, typer.Argument(help="The endpoint's id (`payouts webhooks list`)")]


def register(app: typer.Typer) -> None:
    app.add_typer(webhooks_app, name="webhooks")


@contextmanager
def _database(config: Settings | None = None) -> Iterator[Database]:
    db = existing_database(config)
    try:
        yield db
    finally:
        db.dispose()


def _refuse(db: Database, action: str, target: str, exc: PayoutsError) -> NoReturn:
    record_refusal(db, action, target, status_of(exc), exc.message)
    fail(exc.message, EXIT_USAGE)


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="http:// or https:// URL that receives the POSTs")],
    events: Annotated[
        str | None, typer.Option("--events", help="Event types, comma-separated (default all)")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What this endpoint is for")] = None,
) -> None:
    """Add an endpoint; prints its id, then its signing secret (once, alone on the last
    line, in the whsec_ form Standard Webhooks libraries accept)."""
    with _database() as db:
        target = f"url={url[:150]}"
        try:
            with db.write() as conn:
                made = webhooks.add(conn, url, events, description)
                record(conn, "webhooks_add", target, 201, f"ok (endpoint {made.id})")
        except PayoutsError as exc:
            _refuse(db, "webhooks_add", target, exc)
        typer.echo(
            f"Created webhook endpoint {made.id} for {url.strip()} (events: {events or 'all'})."
        )
        typer.echo("Its signing secret is shown once; store it now:")
        typer.echo(made.secret)


@webhooks_app.command("list")
def list_endpoints(
    as_json: Annotated[bool, typer.Option("--json", help="As JSON")] = False,
) -> None:
    """Every endpoint: state, last success, backlog, failed deliveries, last error (never
    its secret)."""
    with _database() as db:
        with db.read() as conn:
            rows = webhooks.list_all(conn)
        if as_json:
            print_json(rows)
            return
        typer.echo(
            f"{'ID':>4} {'STATE':<9} {'BACKLOG':>8} {'FAILED':>6} {'LAST SUCCESS':<25} URL / EVENTS"
        )
        for row in rows:
            state = "enabled" if row["enabled"] else "disabled"
            types = ",".join(row["event_types"]) if row["event_types"] else "all"
            typer.echo(
                f"{row['id']:>4} {state:<9} {row['backlog']:>8} {row['failed_deliveries']:>6}"
                f" {row['last_success_at'] or '-':<25} {row['url']} ({types})"
            )
            if row["disabled_reason"]:
                typer.echo(f"{'':>4} {row['disabled_reason']}")
            elif row["last_error"]:
                typer.echo(f"{'':>4} last error: {row['last_error']}")


def _change(action: str, endpoint_id: int, enabled: bool | None) -> None:
    with _database() as db:
        target = f"endpoint={endpoint_id}"
        try:
            with db.write() as conn:
                if enabled is None:
                    webhooks.remove(conn, endpoint_id)
                else:
                    webhooks.set_enabled(conn, endpoint_id, enabled)
                record(conn, f"webhooks_{action}", target, 200, audit.OK)
        except PayoutsError as exc:
            _refuse(db, f"webhooks_{action}", target, exc)
        typer.echo(
            f"Webhook endpoint {endpoint_id}: {action}d."
            if action != "remove"
            else f"Webhook endpoint {endpoint_id} removed."
        )


@webhooks_app.command("remove")
def remove(endpoint_id: EndpointId) -> None:
    """Remove an endpoint and its deliveries."""
    _change("remove", endpoint_id, None)


@webhooks_app.command("disable")
def disable(endpoint_id: EndpointId) -> None:
    """Stop sending to an endpoint (its events wait; `enable` sends them)."""
    _change("disable", endpoint_id, False)


@webhooks_app.command("enable")
def enable(endpoint_id: EndpointId) -> None:
    """Send to an endpoint again, from where it stopped."""
    _change("enable", endpoint_id, True)


@webhooks_app.command("test")
def test(endpoint_id: EndpointId) -> None:
    """Send a signed ping (a `webhook.test` event) now and say what the receiver answered."""
    config = settings()
    with _database(config) as db:
        try:
            with db.read() as conn:
                endpoint = webhooks.get(conn, endpoint_id)
        except PayoutsError as exc:
            fail(exc.message, EXIT_USAGE)
        answer = webhooks.ping(endpoint, config.webhook_timeout_seconds)
        if not answer.ok:
            fail(f"ping to {endpoint['url']} failed: {answer.error}", EXIT_FAILED)
        typer.echo(f"ping to {endpoint['url']}: HTTP {answer.status} in {answer.seconds:.3f} s")


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: EndpointId,
    failed: Annotated[bool, typer.Option(help="Only the failed ones")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """An endpoint's latest deliveries (newest first)."""
    with _database() as db:
        try:
            with db.read() as conn:
                rows = webhooks.deliveries(conn, endpoint_id, "failed" if failed else None, limit)
        except PayoutsError as exc:
            fail(exc.message, EXIT_USAGE)
        typer.echo(f"{'ID':>8} {'STATUS':<9} {'EVENTS':>6} {'TRIES':>5} {'CREATED':<25} LAST ERROR")
        for row in rows:
            typer.echo(
                f"{row['id']:>8} {row['status']:<9} {row['event_count']:>6} {row['attempts']:>5}"
                f" {row['created_at']:<25} {row['last_error'] or '-'}"
            )


@webhooks_app.command("resend")
def resend(
    delivery_id: Annotated[int, typer.Argument(help="A failed delivery's id")],
) -> None:
    """Send a failed delivery again (the workers pick it up at once)."""
    with _database() as db:
        target = f"delivery={delivery_id}"
        try:
            with db.write() as conn:
                webhooks.resend(conn, delivery_id)
                record(conn, "webhooks_resend", target, 200, audit.OK)
        except PayoutsError as exc:
            _refuse(db, "webhooks_resend", target, exc)
        typer.echo(f"Delivery {delivery_id} will be sent again.")
