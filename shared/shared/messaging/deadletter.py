"""Dead letters: a message that can never succeed goes to `<topic>.dlq`, the reason in headers.

The original value and key are kept byte for byte, so an operator can replay it once fixed —
unless they are over the suite's limits: a dead letter must itself be publishable (Apache Kafka
refuses records near 1 MiB), so a value over `max_value` bytes is cut to that size and a key to
`MAX_KEY_BYTES`, and the headers then carry the original's size and sha256
(`x-dlq-original-size`, `x-dlq-original-sha256`, `x-dlq-truncated: value|key|value,key`).
Every header is bounded, so a dead letter is never larger than `max_value` + a few KiB.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contract.registry import dlq, on_wire
from shared.messaging.outbox import Send

MAX_HEADER_TEXT = 2000
#: a Kafka key is an aggregate id (at most 128 characters on the wire); a longer one is hostile
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class Record:
    """The parts of a consumed Kafka record the runtime needs."""

    topic: str  # logical name, without TOPIC_PREFIX
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    #: read only for a tombstone (`shared.contract.tombstone`); the runtime reads no other header
    headers: tuple[tuple[str, bytes | None], ...] = ()


def dead_letter_headers(record: Record, reason: str, error: str, service: str) -> dict[str, str]:
    return {
        "x-dlq-reason": reason[:64],
        "x-dlq-error": error[:MAX_HEADER_TEXT],
        "x-dlq-service": service,
        "x-dlq-original-topic": record.topic,
        "x-dlq-original-partition": str(record.partition),
        "x-dlq-original-offset": str(record.offset),
        "x-dlq-time": datetime.now(UTC).isoformat(),
    }


def bounded(record: Record, max_value: int) -> tuple[bytes, bytes, dict[str, str]]:
    """The key and value a dead letter of `record` carries, and the headers that say what was
    cut (none when nothing was)."""
    key, value = record.key or b"", record.value or b""
    cut = [
        name
        for name, part, limit in (("value", value, max_value), ("key", key, MAX_KEY_BYTES))
        if len(part) > limit
    ]
    if not cut:
        return key, value, {}
    headers = {
        "x-dlq-truncated": ",".join(cut),
        "x-dlq-original-size": str(len(value)),
        "x-dlq-original-sha256": hashlib.sha256(value).hexdigest(),
    }
    if "key" in cut:
        headers["x-dlq-original-key-sha256"] = hashlib.sha256(key).hexdigest()
    return key[:MAX_KEY_BYTES], value[:max_value], headers


async def dead_letter(
    send: Send,
    record: Record,
    reason: str,
    error: str,
    *,
    service: str,
    prefix: str,
    max_value: int,
) -> None:
    key, value, cut = bounded(record, max_value)
    await send(
        on_wire(dlq(record.topic), prefix),
        key,
        value,
        {**dead_letter_headers(record, reason, error, service), **cut},
    )
