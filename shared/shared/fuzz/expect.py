"""What the suite must do with a record, predicted with the contract's own decoding and models,
in the order the runtime reads a record (`Runtime._prepare`): too large, not JSON, not a
CloudEvent, a type unknown on its topic, an event from another source than its type's producer or
without its signature (the fuzzer signs nothing: an outsider has no producer's key), an event
whose data fails its model — each dead-lettered by every service that consumes the topic — and a
command (or an unknown type on a command topic), which must be answered with a `CommandResult`
(and is dead-lettered too when sent longer ago than the age limit: `too_old`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from shared.contract.envelope import CloudEvent, EnvelopeError
from shared.contract.envelope import read as read_envelope
from shared.contract.registry import COMMAND_TOPICS, provenance, spec
from shared.messaging.inbox import MAX_RECORD_AGE_S
from shared.messaging.outbox import MAX_MESSAGE_BYTES
from shared.signing import DevelopmentKeyring


@dataclass(frozen=True)
class Expected:
    #: the `x-dlq-reason` each consumer of the topic must dead-letter the record with
    dead_letter: str | None = None
    #: the command id that must get a `CommandResult`
    answer: str | None = None


def read(value: bytes | None) -> CloudEvent | str:
    """The record's CloudEvent, or the dead-letter reason it cannot be read with."""
    found = read_with_document(value)
    return found if isinstance(found, str) else found[0]


def read_with_document(value: bytes | None) -> tuple[CloudEvent, dict[str, Any]] | str:
    """The record's CloudEvent and JSON object, or the dead-letter reason it cannot be read
    with. A JSON text nested deeper than the parser's recursion limit cannot be parsed:
    `not_json`."""
    try:
        return read_envelope(value)
    except EnvelopeError as exc:
        return exc.reason
    except RecursionError:
        return "not_json"


def expected(
    topic: str,
    value: bytes | None,
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_age: timedelta = timedelta(seconds=MAX_RECORD_AGE_S),
) -> Expected:
    if len(value or b"") > max_bytes:
        return Expected("too_large")
    decoded = read_with_document(value)
    if isinstance(decoded, str):
        return Expected(decoded)
    event, document = decoded
    found = spec(event.type)
    answered = event.id if topic in COMMAND_TOPICS else None
    if found is None or found.topic != topic:
        return Expected("unknown_type", answered)
    if found.kind == "command":
        # answered `too_old` when past the age limit (the fuzzer never sends one near it)
        too_old = datetime.now(UTC) - event.time > max_age
        return Expected("too_old" if too_old else None, answered)
    forged = provenance(event, document, found, _NO_PRODUCER_KEYS)
    if forged is not None:
        return Expected(forged[0])
    try:
        found.model.model_validate(event.data)
    except ValidationError:
        return Expected("invalid_data")
    return Expected()


#: whatever the fuzzer writes is checked against keys it does not hold
_NO_PRODUCER_KEYS = DevelopmentKeyring()


def trusted(topic: str, value: bytes | None) -> bool:
    """Would a consumer of `topic` act on this record: an event of the topic's type whose data
    passes its model? (What a money topic must never be sent while events are not signed.)"""
    if len(value or b"") > MAX_MESSAGE_BYTES:
        return False
    event = read(value)
    if isinstance(event, str):
        return False
    found = spec(event.type)
    if found is None or found.topic != topic or found.kind != "event":
        return False
    try:
        found.model.model_validate(event.data)
    except ValidationError:
        return False
    return True
