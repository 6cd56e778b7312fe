"""One registry of the wire: CloudEvents type <-> topic <-> model, plus topic naming.

Topics are kebab-case, one per event type; commands share a topic per context; every consumed
topic has a dead-letter twin `<topic>.dlq`. `TOPIC_PREFIX` (for example `karoman.`) goes before
every name on the wire; code always speaks the logical name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from shared.contract import directory, disputes, escrow, payments
from shared.contract.base import Command, Message
from shared.contract.results import CommandResult

DLQ_SUFFIX = ".dlq"
COMMAND_RESULTS = CommandResult.TOPIC
#: the context that owns each command topic, and so answers its commands
COMMAND_TOPICS = {
    "escrow-commands": escrow.CONTEXT,
    "payment-commands": payments.CONTEXT,
    "dispute-commands": disputes.CONTEXT,
}
#: topics that keep only the latest record per key
COMPACTED_TOPICS = frozenset({directory.UserContactUpdated.TOPIC})


MessageModel = type[Message]


@dataclass(frozen=True)
class MessageSpec:
    model: MessageModel
    kind: Literal["command", "event", "result"]
    type: str
    topic: str


def _specs() -> dict[str, MessageSpec]:
    models: list[type[Message]] = [
        *escrow.COMMANDS,
        *escrow.EVENTS,
        *payments.COMMANDS,
        *payments.EVENTS,
        *disputes.COMMANDS,
        *disputes.EVENTS,
        *directory.EVENTS,
    ]
    specs = {
        m.TYPE: MessageSpec(m, "command" if issubclass(m, Command) else "event", m.TYPE, m.TOPIC)
        for m in models
    }
    for context in COMMAND_TOPICS.values():
        result_type = f"{context}.CommandResult.v1"
        specs[result_type] = MessageSpec(CommandResult, "result", result_type, COMMAND_RESULTS)
    return specs


SPECS: dict[str, MessageSpec] = _specs()


def spec(type_: str) -> MessageSpec | None:
    return SPECS.get(type_)


def spec_of(model: type[Message]) -> MessageSpec:
    return SPECS[model.TYPE]


def all_topics() -> list[str]:
    """Every logical topic of the suite, without its dead-letter twin."""
    return sorted({s.topic for s in SPECS.values()})


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


def on_wire(topic: str, prefix: str = "") -> str:
    return prefix + topic


def off_wire(topic: str, prefix: str = "") -> str:
    return topic.removeprefix(prefix) if prefix else topic


def topics_with_dlq(topics: Iterable[str]) -> list[str]:
    return sorted({t for topic in topics for t in (topic, dlq(topic))})
