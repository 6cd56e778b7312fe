"""The CloudEvents 1.0 envelope in structured JSON mode, as every message travels on Kafka.

Extensions: `correlationid` (the conversation), `causationid` (the id of the message that caused
this one) and, on commands, `actortoken` (the marketplace's JWT for the acting user).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contract.base import Message

CONTENT_TYPE = "application/cloudevents+json"


class EnvelopeError(ValueError):
    """The bytes are not a CloudEvent we can read; `reason` is the dead-letter reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CloudEvent(BaseModel):
    """One message on the wire. Unknown extensions are kept, never refused."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = None
    data: dict[str, Any]
    correlationid: str | None = None
    causationid: str | None = None
    actortoken: str | None = None

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def new_event(
    message: Message,
    *,
    source: str,
    type_: str | None = None,
    cause: CloudEvent | None = None,
    actortoken: str | None = None,
    event_id: str | None = None,
    now: datetime | None = None,
) -> CloudEvent:
    """Wrap `message` in an envelope; a `cause` passes on its correlation and is the causation."""
    event_id = event_id or str(uuid.uuid4())
    return CloudEvent(
        id=event_id,
        source=source,
        type=type_ or message.TYPE,
        time=now or datetime.now(UTC),
        data=message.model_dump(mode="json"),
        correlationid=(cause.correlationid or cause.id) if cause else event_id,
        causationid=cause.id if cause else None,
        actortoken=actortoken,
    )


def decode(raw: bytes | None) -> CloudEvent:
    """Parse one record's value; raises `EnvelopeError` with a dead-letter reason."""
    if not raw:
        raise EnvelopeError("empty", "the record has no value")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError("not_json", f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise EnvelopeError("not_cloudevent", "a CloudEvent is a JSON object")
    try:
        return CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise EnvelopeError("not_cloudevent", _brief(exc)) from exc


def _brief(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
    )


def describe(exc: ValidationError) -> str:
    """A one-line account of a validation error for headers, results and logs."""
    return _brief(exc)
