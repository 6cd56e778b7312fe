"""The CloudEvents 1.0 envelope in structured JSON mode, as every message travels on Kafka.

Extensions: `correlationid` (the conversation), `causationid` (the id of the message that caused
this one), on commands `actortoken` (the marketplace's JWT for the acting user), and on every
other message `signature` and `signaturekeyid` (its producer's Ed25519 signature, `shared.signing`).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contract.base import Message
from shared.signing import KEY_ID, SIGNATURE, Signer

CONTENT_TYPE = "application/cloudevents+json"
#: the longest refusal or dead-letter reason the suite writes: an answer never echoes its input
#: at length (a 650 KB `type` once came back twice in its own refusal)
MAX_REFUSAL_TEXT = 500
#: validation errors listed in a refusal; the rest are counted
MAX_LISTED_ERRORS = 5


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
    source: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: str | None = Field(default=None, max_length=255)
    data: dict[str, Any]
    correlationid: str | None = Field(default=None, max_length=128)
    causationid: str | None = Field(default=None, max_length=128)
    actortoken: str | None = Field(default=None, max_length=8192)
    signature: str | None = Field(
        default=None,
        max_length=128,
        description="events and results: base64url (no padding) of the producer's Ed25519 "
        "signature over the RFC 8785 canonical JSON of this event without `signature`",
    )
    signaturekeyid: str | None = Field(
        default=None,
        max_length=64,
        description="events and results: the id of the producer's key that signed",
    )

    def encode(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class Cause(Protocol):
    """What a message follows from: its id is the next message's `causationid`, and its
    correlation (else its id) the next message's `correlationid`."""

    @property
    def id(self) -> str: ...

    @property
    def correlationid(self) -> str | None: ...


@dataclass(frozen=True)
class Followed:
    """The message an aggregate's later events follow from, as the aggregate's row keeps it: a
    payment's callback-caused PaymentReceived follows from its StartPayment, a payout's
    PayoutCompleted from its RequestPayout, though neither is sent while handling it."""

    id: str
    correlationid: str | None


def new_event(
    message: Message,
    *,
    source: str,
    type_: str | None = None,
    cause: Cause | None = None,
    actortoken: str | None = None,
    event_id: str | None = None,
    now: datetime | None = None,
    signer: Signer | None = None,
) -> CloudEvent:
    """Wrap `message` in an envelope; a `cause` passes on its correlation and is the causation.
    With a `signer` the envelope is signed (its `source` must then be the signer's producer)."""
    event_id = event_id or str(uuid.uuid4())
    event = CloudEvent(
        id=event_id,
        source=source,
        type=type_ or message.TYPE,
        time=now or datetime.now(UTC),
        data=message.model_dump(mode="json"),
        correlationid=(cause.correlationid or cause.id) if cause else event_id,
        causationid=cause.id if cause else None,
        actortoken=actortoken,
    )
    return event if signer is None else signed(event, signer)


def signed(event: CloudEvent, signer: Signer) -> CloudEvent:
    """`event` with its producer's signature over exactly the JSON it is sent as."""
    attributes = signer.sign(event.model_dump(mode="json", exclude_none=True))
    return event.model_copy(
        update={"signature": attributes[SIGNATURE], "signaturekeyid": attributes[KEY_ID]}
    )


def decode(raw: bytes | None) -> CloudEvent:
    """Parse one record's value; raises `EnvelopeError` with a dead-letter reason."""
    return read(raw)[0]


def read(raw: bytes | None) -> tuple[CloudEvent, dict[str, Any]]:
    """Parse one record's value into its envelope and the JSON object it was (which is what a
    signature covers); raises `EnvelopeError` with a dead-letter reason."""
    if not raw:
        raise EnvelopeError("empty", "the record has no value")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: nested deeper than the parser goes (`{"a":` ×1000 is 6 KB); let out,
        # it failed the whole batch, which was fetched again forever (`make fuzz` found it)
        raise EnvelopeError("not_json", f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise EnvelopeError("not_cloudevent", "a CloudEvent is a JSON object")
    unstorable = _unstorable(document)
    if unstorable is not None:
        raise EnvelopeError("not_cloudevent", unstorable)
    unreadable = _not_cloudevent_1_0(document)
    if unreadable is not None:
        raise EnvelopeError("not_cloudevent", unreadable)
    try:
        return CloudEvent.model_validate(document), document
    except ValidationError as exc:
        raise EnvelopeError("not_cloudevent", _brief(exc)) from exc


def _not_cloudevent_1_0(document: dict[str, Any]) -> str | None:
    """Why a JSON object is not a CloudEvent 1.0, if it is not: its `specversion` must say
    "1.0" (required; no default is assumed), and every attribute name must be lower-case ASCII
    letters and digits (a MUST of the specification), at most 20 of them (its SHOULD, taken as
    the suite's bound)."""
    version = document.get("specversion")
    if version != SPEC_VERSION:
        found = "missing" if version is None else shorten(repr(version), 40)
        return f'specversion must be "{SPEC_VERSION}" (CloudEvents 1.0), not {found}'
    for name in document:
        if not _ATTRIBUTE_NAME.fullmatch(name):
            return (
                f"attribute name {shorten(repr(name), 60)} is not 1 to 20 lower-case "
                "letters and digits"
            )
    return None


#: the CloudEvents version the suite reads and writes
SPEC_VERSION = "1.0"
_ATTRIBUTE_NAME = re.compile("[a-z0-9]{1,20}")


def _unstorable(document: dict[str, Any]) -> str | None:
    """Why a parsed document cannot be kept, if it cannot: JSON may escape a NUL (`\\u0000`),
    which no PostgreSQL text or jsonb value holds, and a lone surrogate (`\\udc80`), which has
    no UTF-8. A message holding either could be neither stored nor answered, and stalled its
    partition (`make fuzz` found both); it is refused here, before anything is written.

    Walks with a stack, not recursion: the parser has already bounded the depth."""
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "a string holds a NUL character, which cannot be stored"
            if not value.isascii() and _SURROGATE.search(value):
                return "a string holds a lone surrogate, which is not a character"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _brief(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    listed = []
    for err in errors[:MAX_LISTED_ERRORS]:
        where = shorten(".".join(str(p) for p in err["loc"]), 80) or "<root>"
        listed.append(f"{where}: {shorten(err['msg'], 120)}")
    if len(errors) > MAX_LISTED_ERRORS:
        listed.append(f"and {len(errors) - MAX_LISTED_ERRORS} more errors")
    return shorten("; ".join(listed), MAX_REFUSAL_TEXT)


def describe(exc: ValidationError) -> str:
    """A one-line account of a validation error for headers, results and logs: the first few
    errors, each cut short, never the input itself."""
    return _brief(exc)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so."""
    return text if len(text) <= limit else text[: max(limit - 12, 0)] + "… (cut)"
