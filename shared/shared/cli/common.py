"""What every `escrowctl` subcommand uses: send a signed command and await its result, read a
service's API. Service subcommands import from here (not from `main`, which loads them)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
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


async def send_raw(
    config: CliConfig, type_: str, data: dict[str, Any], *, command_id: str | None, wait: float
) -> CommandResult | None:
    """Sign and publish a command as given (the service, not the CLI, decides if it is valid)."""
    spec = registry.spec(type_)
    if spec is None or spec.kind != "command":
        raise typer.BadParameter(f"{type_} is not a command of the suite")
    token = None
    if config.private_key_pem and isinstance(data.get("actor"), dict):
        token = sign_actor_token(
            config.private_key_pem,
            Actor.model_validate(data["actor"]),
            audience=config.token_audience,
            issuer=config.token_issuer,
        )
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
    async with SuiteClient(
        config.bootstrap_servers, prefix=config.topic_prefix, keyring=config.keyring
    ) as client:
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


def act(type_: str, role: str, user: str, **data: Any) -> None:
    """Send `type_` as `user` acting as `role`, leaving out the options not given."""
    body = {key: value for key, value in data.items() if value is not None}
    execute(type_, {"actor": {"user_id": user, "role": role}, **body})


#: the `--as` option every acting subcommand takes
As = Annotated[str, typer.Option("--as", help="the acting user's id")]


def show(service: str, path: str) -> None:
    """Print what a service's read API answers at `path` (exit 1 on an error answer)."""
    config = CliConfig.load()
    base = config.services.get(service)
    if not base:
        raise typer.BadParameter(f"where {service} listens is unknown: start `make run` first")
    answer = httpx.get(base + path, timeout=10, auth=config.reading())
    typer.echo(json.dumps(answer.json(), indent=2, ensure_ascii=False))
    if answer.status_code >= 400:
        raise typer.Exit(1)
