"""`escrowctl`: send a command signed with the development key and print its `CommandResult`."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from shared.auth import sign_actor_token
from shared.cli.config import CliConfig
from shared.client import SuiteClient
from shared.contract import registry
from shared.contract.base import Actor
from shared.contract.envelope import CloudEvent
from shared.contract.results import CommandResult

#: the data field that names a command's aggregate, which keys its Kafka record
AGGREGATE_KEYS = ("escrow_id", "dispute_id", "payment_id", "payout_id", "contract_id", "refund_id")

app = typer.Typer(help="The escrow suite's command line.", no_args_is_help=True)


def _data(raw: str) -> dict[str, Any]:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    data = json.loads(text)
    if not isinstance(data, dict):
        raise typer.BadParameter("the command's data is a JSON object")
    return data


async def send_raw(
    config: CliConfig, type_: str, data: dict[str, Any], *, command_id: str | None, wait: float
) -> CommandResult | None:
    """Sign and publish a command as given (the service, not the CLI, decides if it is valid)."""
    spec = registry.spec(type_)
    if spec is None or spec.kind != "command":
        raise typer.BadParameter(f"{type_} is not a command of the suite")
    token = None
    if config.private_key_pem and isinstance(data.get("actor"), dict):
        token = sign_actor_token(config.private_key_pem, Actor.model_validate(data["actor"]))
    event_id = command_id or str(uuid.uuid4())
    event = CloudEvent(
        id=event_id,
        source="escrowctl",
        type=type_,
        time=datetime.now(UTC),
        data=data,
        correlationid=event_id,
        actortoken=token,
    )
    key = next((str(data[k]) for k in AGGREGATE_KEYS if data.get(k)), event.id)
    async with SuiteClient(config.bootstrap_servers, prefix=config.topic_prefix) as client:
        await client.publish(spec.topic, event.encode(), key=key)
        if wait <= 0:
            return None
        return await client.watcher.result_of(event.id, timeout=wait)


def execute(type_: str, data: dict[str, Any], *, command_id: str | None = None) -> None:
    """Send a command, print its result, exit 1 when it is rejected (for service subcommands)."""
    result = asyncio.run(send_raw(CliConfig.load(), type_, data, command_id=command_id, wait=30))
    assert result is not None
    typer.echo(result.model_dump_json(indent=2))
    if not result.accepted:
        raise typer.Exit(1)


def show(service: str, path: str) -> None:
    """Print what a service's read API answers at `path` (exit 1 on an error answer)."""
    base = CliConfig.load().services.get(service)
    if not base:
        raise typer.BadParameter(f"where {service} listens is unknown: start `make run` first")
    answer = httpx.get(base + path, timeout=10)
    typer.echo(json.dumps(answer.json(), indent=2, ensure_ascii=False))
    if answer.status_code >= 400:
        raise typer.Exit(1)


@app.command()
def send(
    type_: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. escrow.ReleaseEscrow.v1")],
    data: Annotated[str, typer.Argument(help="the command's data as JSON, or @file.json")],
    command_id: Annotated[str | None, typer.Option("--id", help="command id (for retries)")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for the result; 0: don't")] = 30.0,
) -> None:
    """Send one command and print its CommandResult (exit 1 if rejected)."""
    result = asyncio.run(
        send_raw(CliConfig.load(), type_, _data(data), command_id=command_id, wait=wait)
    )
    if result is None:
        return
    typer.echo(result.model_dump_json(indent=2))
    if not result.accepted:
        sys.exit(1)


@app.command()
def types() -> None:
    """List every command and event type with its topic."""
    for spec in sorted(registry.SPECS.values(), key=lambda s: (s.kind, s.type)):
        typer.echo(f"{spec.kind:<8} {spec.type:<42} {spec.topic}")


def _plug_in_service_commands() -> None:
    """Each service adds its own subcommands through the `escrowctl.commands` entry point."""
    for entry in entry_points(group="escrowctl.commands"):
        app.add_typer(entry.load(), name=entry.name)


_plug_in_service_commands()

if __name__ == "__main__":
    app()
