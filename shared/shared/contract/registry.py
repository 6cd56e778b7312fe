"""One registry of the wire: CloudEvents type <-> topic <-> model, plus topic naming.

Topics are kebab-case, one per event type; commands share a topic per context; every consumed
topic has a dead-letter twin `<topic>.dlq`. `TOPIC_PREFIX` (for example `karoman.`) goes before
every name on the wire; code always speaks the logical name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from shared.contract import directory, disputes, escrow, payments
from shared.contract.base import Message
from shared.contract.envelope import CloudEvent, shorten
from shared.contract.results import CommandResult
from shared.signing import BadSignature, Keyring

DLQ_SUFFIX = ".dlq"
COMMAND_RESULTS = CommandResult.TOPIC
#: the context that owns each command topic, and so answers its commands
COMMAND_TOPICS = {
    "escrow-commands": escrow.CONTEXT,
    "payment-commands": payments.CONTEXT,
    "dispute-commands": disputes.CONTEXT,
}
#: who publishes (and signs) the events of each context: the marketplace owns the directory
PRODUCERS = {
    escrow.CONTEXT: "escrow",
    payments.CONTEXT: "payments",
    disputes.CONTEXT: "disputes",
    directory.CONTEXT: "marketplace",
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
    #: the producer whose signature and `source` an event or result must carry; commands have
    #: none (any marketplace back end sends them; their actor token vouches for them)
    producer: str | None = None


def _specs() -> dict[str, MessageSpec]:
    specs: dict[str, MessageSpec] = {}
    for module in (escrow, payments, disputes, directory):
        for command in module.COMMANDS:
            specs[command.TYPE] = MessageSpec(command, "command", command.TYPE, command.TOPIC)
        for event in module.EVENTS:
            producer = PRODUCERS[module.CONTEXT]
            specs[event.TYPE] = MessageSpec(event, "event", event.TYPE, event.TOPIC, producer)
    for context in COMMAND_TOPICS.values():
        result_type = f"{context}.CommandResult.v1"
        specs[result_type] = MessageSpec(
            CommandResult, "result", result_type, COMMAND_RESULTS, PRODUCERS[context]
        )
    return specs


SPECS: dict[str, MessageSpec] = _specs()


def spec(type_: str) -> MessageSpec | None:
    return SPECS.get(type_)


def provenance(
    event: CloudEvent, document: dict[str, Any], spec: MessageSpec, keyring: Keyring
) -> tuple[str, str] | None:
    """Why an event or result does not come from the producer of its type, if it does not:
    another `source` (`wrong_source`), or no valid signature by one of its keys
    (`bad_signature`). `document` is the JSON object the record was (what the signature covers).
    The one check of the runtime, `SuiteClient` and the fuzzer's expectations."""
    producer = spec.producer or ""
    if event.source != producer:
        source = shorten(event.source, 80)
        return "wrong_source", f"{event.type} is published by {producer}, not {source!r}"
    try:
        keyring.verify(document, producer)
    except BadSignature as exc:
        return "bad_signature", str(exc)
    return None


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
