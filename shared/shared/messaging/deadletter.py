"""Dead letters: a message that can never succeed goes to `<topic>.dlq`, the reason in headers.

The original value and key are kept byte for byte, so an operator can replay it once fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contract.registry import dlq, on_wire
from shared.messaging.outbox import Send

MAX_HEADER_TEXT = 2000


@dataclass(frozen=True)
class Record:
    """The parts of a consumed Kafka record the runtime needs."""

    topic: str  # logical name, without TOPIC_PREFIX
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def dead_letter_headers(record: Record, reason: str, error: str, service: str) -> dict[str, str]:
    return {
        "x-dlq-reason": reason,
        "x-dlq-error": error[:MAX_HEADER_TEXT],
        "x-dlq-service": service,
        "x-dlq-original-topic": record.topic,
        "x-dlq-original-partition": str(record.partition),
        "x-dlq-original-offset": str(record.offset),
        "x-dlq-time": datetime.now(UTC).isoformat(),
    }


async def dead_letter(
    send: Send, record: Record, reason: str, error: str, *, service: str, prefix: str
) -> None:
    await send(
        on_wire(dlq(record.topic), prefix),
        record.key or b"",
        record.value or b"",
        dead_letter_headers(record, reason, error, service),
    )
