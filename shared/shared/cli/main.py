"""`escrowctl`: send a command signed with the development key and print its `CommandResult`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.cli.common import send_raw
from shared.cli.config import CliConfig
from shared.cli.reconcile import reconcile
from shared.client import SuiteClient
from shared.contract import registry
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import new_event
from shared.contract.tombstone import tombstone_headers

app = typer.Typer(help="The escrow suite's command line.", no_args_is_help=True)


def _data(raw: str) -> dict[str, Any]:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    data = json.loads(text)
    if not isinstance(data, dict):
        raise typer.BadParameter("the command's data is a JSON object")
    return data


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


app.command()(reconcile)


@app.command()
def contact(
    user_id: str,
    email: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    language: Annotated[str, typer.Option(help="fa or en")] = "fa",
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Publish a person's contact details on `user-contacts`, as the marketplace does."""
    event = UserContactUpdated.model_validate(
        {
            "user_id": user_id,
            "email": email,
            "phone": phone,
            "language": language,
            "display_name": name,
        }
    )
    config = CliConfig.load()

    async def publish() -> None:
        async with SuiteClient(
            config.bootstrap_servers, prefix=config.topic_prefix, keyring=config.keyring
        ) as client:
            signer = config.marketplace_signer
            envelope = new_event(event, source=signer.producer, signer=signer)
            await client.publish(event.TOPIC, envelope.encode(), key=user_id)

    asyncio.run(publish())
    typer.echo(json.dumps({"published": event.TOPIC, "user_id": user_id}))


@app.command("erase-contact")
def erase_contact(user_id: str) -> None:
    """Erase a person's contact details: a signed tombstone on `user-contacts`, as the
    marketplace sends when someone leaves it; notifications forgets them and sends them nothing."""
    config = CliConfig.load()
    signer = config.marketplace_signer
    headers = tombstone_headers(UserContactUpdated.TOPIC, user_id, datetime.now(UTC), signer)

    async def publish() -> None:
        async with SuiteClient(
            config.bootstrap_servers, prefix=config.topic_prefix, keyring=config.keyring
        ) as client:
            await client.publish(UserContactUpdated.TOPIC, None, key=user_id, headers=headers)

    asyncio.run(publish())
    typer.echo(json.dumps({"erased": UserContactUpdated.TOPIC, "user_id": user_id}))


def _plug_in_service_commands() -> None:
    """Each service adds its own subcommands through the `escrowctl.commands` entry point."""
    for entry in entry_points(group="escrowctl.commands"):
        app.add_typer(entry.load(), name=entry.name)
    # Services whose commands read best at the top level (`escrowctl pay`, `escrowctl wallet`).
    for entry in entry_points(group="escrowctl.toplevel"):
        app.registered_commands.extend(entry.load().registered_commands)


_plug_in_service_commands()

if __name__ == "__main__":
    app()
