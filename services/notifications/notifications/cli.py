"""`escrowctl notifications …`: the delivery log, read from the notifications service's HTTP API.

`app` is a typer sub-app; escrowctl mounts it with `app.add_typer(notifications.cli.app,
name="notifications")`. The service's address comes from `--url` or `NOTIFICATIONS_URL`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from shared.cli.config import CliConfig

DEFAULT_URL = "http://127.0.0.1:8004"

app = typer.Typer(help="The notifications service's delivery log.", no_args_is_help=True)

Url = Annotated[str, typer.Option("--url", envvar="NOTIFICATIONS_URL", help="service address")]
AsJson = Annotated[bool, typer.Option("--json", help="print the API's JSON")]


def fetch_deliveries(
    url: str, *, event_id: str | None = None, user_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    params = {
        k: v for k, v in {"event_id": event_id, "user_id": user_id, "status": status}.items() if v
    }
    answer = httpx.get(
        f"{url.rstrip('/')}/deliveries", params=params, timeout=10, auth=CliConfig.load().reading()
    )
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["deliveries"]
    return found


def fetch_delivery(url: str, delivery_id: int) -> dict[str, Any] | None:
    answer = httpx.get(
        f"{url.rstrip('/')}/deliveries/{delivery_id}", timeout=10, auth=CliConfig.load().reading()
    )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def line(entry: dict[str, Any]) -> str:
    """One delivery on one line: id, status, channel, recipient, template, attempts, error."""
    error = f"  {entry['last_error']}" if entry.get("last_error") else ""
    return (
        f"{entry['id']:>6}  {entry['status']:<13} {entry['channel']:<8} {entry['user_id']:<20}"
        f" {entry['template']:<28} attempts={entry['attempts']}{error}"
    )


@app.command("deliveries")
def deliveries(
    event_id: Annotated[str | None, typer.Option(help="only this event's deliveries")] = None,
    user_id: Annotated[str | None, typer.Option(help="only this person's deliveries")] = None,
    status: Annotated[str | None, typer.Option(help="pending, sent, failed, undeliverable")] = None,
    url: Url = DEFAULT_URL,
    as_json: AsJson = False,
) -> None:
    """List deliveries, newest first."""
    found = fetch_deliveries(url, event_id=event_id, user_id=user_id, status=status)
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for entry in found:
        typer.echo(line(entry))
    if not found:
        typer.echo("no deliveries")


@app.command("delivery")
def delivery(delivery_id: int, url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Show one delivery."""
    found = fetch_delivery(url, delivery_id)
    if found is None:
        typer.echo(f"no delivery {delivery_id}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else line(found))
