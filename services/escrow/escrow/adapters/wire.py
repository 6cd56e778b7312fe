"""Translation between the escrow domain and the wire contract (shared.contract.escrow)."""

from __future__ import annotations

import dataclasses
from typing import Any

from shared.contract import escrow as wire
from shared.contract.base import Actor as WireActor
from shared.contract.base import Event

from escrow import domain


def actor(who: WireActor) -> domain.Actor:
    return domain.Actor(user_id=who.user_id, role=domain.Role(who.role.value))


def _fields(event: object) -> dict[str, Any]:
    values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}  # type: ignore[arg-type]
    if isinstance(values.get("escrow"), domain.EscrowSnapshot):
        values["escrow"] = values["escrow"].as_dict()
    return values


def event(happened: domain.EscrowEvent | domain.ContractOpened) -> Event:
    """The wire event of a domain event: same name, same fields (the wire ignores extras)."""
    model: type[Event] = getattr(wire, type(happened).__name__)
    return model.model_validate(_fields(happened))


def snapshot(escrow: domain.Escrow) -> wire.EscrowSnapshot:
    return wire.EscrowSnapshot.model_validate(escrow.snapshot().as_dict())
