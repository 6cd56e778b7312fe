"""Tombstones: a record with a null value on a compacted topic, which means "delete this key".

On `user-contacts` a tombstone erases that user's contact details (DESIGN §7 Limits). A tombstone
has no CloudEvent to carry a signature, so its attributes travel in Kafka headers, named as the
CloudEvents Kafka binding names attributes in binary mode (`ce_<attribute>`):

- `ce_time`: when the owner erased the key, RFC 3339 with a UTC offset;
- `ce_signaturekeyid`, `ce_signature`: the owner's Ed25519 signature (`shared.signing`) of the
  RFC 8785 form of `{"topic": <logical topic>, "key": <key>, "time": <ce_time>,
  "signaturekeyid": <ce_signaturekeyid>}`.

The signature stands beside the topic's ACLs as every event's does: a principal that can write
the topic cannot erase somebody's details, and the time makes an old tombstone copied back later
lose to details published after it. This is the suite's extension of the contract (README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from shared.contract.envelope import EnvelopeError, shorten
from shared.signing import KEY_ID, SIGNATURE, BadSignature, Keyring, Signer

TIME_HEADER = "ce_time"
KEY_ID_HEADER = "ce_" + KEY_ID
SIGNATURE_HEADER = "ce_" + SIGNATURE
#: a key is a user id: at most 128 characters on the wire
MAX_KEY_CHARS = 128
_TIME = TypeAdapter(AwareDatetime)


@dataclass(frozen=True)
class Tombstone:
    """The owner of `topic` deleted `key` at `time`."""

    topic: str
    key: str
    time: datetime


def _signed_document(topic: str, key: str, time_text: str) -> dict[str, str]:
    return {"topic": topic, "key": key, "time": time_text}


def tombstone_headers(topic: str, key: str, time: datetime, signer: Signer) -> dict[str, str]:
    """The headers that make a null-valued record on `topic` a signed erasure of `key`."""
    time_text = time.isoformat()
    attributes = signer.sign(_signed_document(topic, key, time_text))
    return {
        TIME_HEADER: time_text,
        KEY_ID_HEADER: attributes[KEY_ID],
        SIGNATURE_HEADER: attributes[SIGNATURE],
    }


def read_tombstone(
    topic: str,
    key: bytes | None,
    headers: Sequence[tuple[str, bytes | None]],
    keyring: Keyring,
    owner: str,
) -> Tombstone:
    """The tombstone a null-valued record on `topic` is; raises `EnvelopeError` with a
    dead-letter reason (`not_tombstone` for a missing key or time, `bad_signature`)."""
    try:
        text_key = (key or b"").decode()
    except UnicodeDecodeError:
        raise EnvelopeError("not_tombstone", "a tombstone's key is a UTF-8 user id") from None
    if not 0 < len(text_key) <= MAX_KEY_CHARS:
        raise EnvelopeError("not_tombstone", f"a tombstone's key is 1 to {MAX_KEY_CHARS} chars")
    found = _header_texts(headers)
    time_text = found.get(TIME_HEADER)
    if time_text is None:
        raise EnvelopeError("not_tombstone", f"a tombstone carries its {TIME_HEADER} header")
    try:
        time = _TIME.validate_python(time_text)
    except ValidationError:
        shown = shorten(repr(time_text), 60)
        raise EnvelopeError("not_tombstone", f"{TIME_HEADER} {shown} is no RFC 3339 time") from None
    document = {
        **_signed_document(topic, text_key, time_text),
        **({KEY_ID: found[KEY_ID_HEADER]} if KEY_ID_HEADER in found else {}),
        **({SIGNATURE: found[SIGNATURE_HEADER]} if SIGNATURE_HEADER in found else {}),
    }
    try:
        keyring.verify(document, owner)
    except BadSignature as exc:
        raise EnvelopeError("bad_signature", f"tombstone: {exc}") from exc
    return Tombstone(topic, text_key, time)


def _header_texts(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The tombstone's headers as text; an undecodable or repeated one counts as absent."""
    wanted = (TIME_HEADER, KEY_ID_HEADER, SIGNATURE_HEADER)
    texts: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers:
        if name not in wanted:
            continue
        if name in seen:
            texts.pop(name, None)  # two values: neither is trusted
            continue
        seen.add(name)
        try:
            texts[name] = (value or b"").decode()[:256]
        except UnicodeDecodeError:
            continue
    return texts
