"""What came out: every dead letter of every consumed topic (counted by topic, reason and
service, its headers checked, its size against the limit), and every `CommandResult` naming a
fuzzed command. Read once the suite has caught up, from the start of each topic to the end
offsets read first, by a consumer of no group (nothing is committed, no value is kept)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contract.registry import COMMAND_RESULTS, dlq, on_wire
from shared.messaging.outbox import MAX_MESSAGE_BYTES

#: every dead letter carries these (README, "Errors")
REQUIRED_HEADERS = (
    "x-dlq-reason",
    "x-dlq-error",
    "x-dlq-service",
    "x-dlq-original-topic",
    "x-dlq-original-partition",
    "x-dlq-original-offset",
    "x-dlq-time",
)
#: headers and a cut key add a few KiB to the limit at most (`shared.messaging.deadletter`)
DEAD_LETTER_SLACK = 8 * 1024
FETCH_BYTES = 4 * 1024 * 1024


@dataclass
class Outcomes:
    #: (dead-letter topic, reason, service) -> count
    dead_letters: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    missing_headers: Counter[str] = field(default_factory=Counter)
    oversized: int = 0
    largest: int = 0
    truncated: int = 0
    #: command id -> answers (status, reason_code) on `command-results`
    answers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    read_s: float = 0.0

    def by_reason(self) -> Counter[tuple[str, str]]:
        found: Counter[tuple[str, str]] = Counter()
        for (topic, reason, _), n in self.dead_letters.items():
            found[(topic.removesuffix(".dlq"), reason)] += n
        return found


async def read_outcomes(
    bootstrap: str, topics: list[str], wanted_answers: set[str], prefix: str = ""
) -> Outcomes:
    found = Outcomes()
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=FETCH_BYTES,
        fetch_max_bytes=FETCH_BYTES,
    )
    await consumer.start()
    try:
        await consumer.topics()
        names = [on_wire(dlq(t), prefix) for t in topics] + [on_wire(COMMAND_RESULTS, prefix)]
        partitions = [
            TopicPartition(n, p) for n in names for p in consumer.partitions_for_topic(n) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        consumer.assign(list(pending))
        await consumer.seek_to_beginning(*pending)
        while pending:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    if tp.topic.endswith(".dlq"):
                        _dead_letter(found, tp.topic.removeprefix(prefix), record)
                    else:
                        _answer(found, record.value, wanted_answers)
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    found.read_s = time.perf_counter() - started
    return found


def _dead_letter(found: Outcomes, topic: str, record: object) -> None:
    headers = {k: v for k, v in getattr(record, "headers", ()) or ()}
    for name in REQUIRED_HEADERS:
        if name not in headers:
            found.missing_headers[name] += 1
    reason = (headers.get("x-dlq-reason") or b"?").decode(errors="replace")
    service = (headers.get("x-dlq-service") or b"?").decode(errors="replace")
    found.dead_letters[(topic, reason, service)] += 1
    size = len(getattr(record, "value", None) or b"")
    found.largest = max(found.largest, size)
    found.oversized += size > MAX_MESSAGE_BYTES + DEAD_LETTER_SLACK
    found.truncated += "x-dlq-truncated" in headers


def _answer(found: Outcomes, value: bytes | None, wanted: set[str]) -> None:
    try:
        data = json.loads(value or b"")["data"]
        command_id = str(data["command_id"])
    except (ValueError, KeyError, TypeError):
        return
    if command_id in wanted:
        answer = (str(data.get("status")), str(data.get("reason_code") or ""))
        found.answers.setdefault(command_id, []).append(answer)
