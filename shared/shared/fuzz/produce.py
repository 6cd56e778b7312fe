"""Producing the fuzzed records: one aiokafka producer, at most `in_flight` records unacknowledged
at once, and the tally of what was sent and what the suite owes for it (dead letters per
consuming service, answers to commands: `expect`)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.contract.registry import on_wire
from shared.fuzz.expect import expected
from shared.fuzz.records import Draft, Generator
from shared.fuzz.topics import Topics

#: above the largest fuzzed record (~900 KB) with its key and headers
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_BATCH_BYTES = 512 * 1024


@dataclass
class Tally:
    #: (topic, category) -> records sent
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (category, kind) -> records sent
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (topic, reason) -> dead letters owed (one per service consuming the topic)
    dead_letters_due: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: command ids owed a `CommandResult`
    answers_due: set[str] = field(default_factory=set)
    send_errors: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    largest: int = 0
    elapsed_s: float = 0.0

    @property
    def records(self) -> int:
        return self.sent.total()

    def note(self, draft: Draft, consumers: int) -> None:
        self.sent[(draft.topic, draft.category)] += 1
        self.kinds[(draft.category, draft.kind)] += 1
        size = len(draft.value or b"")
        self.bytes_sent += size
        self.largest = max(self.largest, size)
        owed = expected(draft.topic, draft.value)
        if owed.dead_letter:
            self.dead_letters_due[(draft.topic, owed.dead_letter)] += consumers
        if owed.answer:
            self.answers_due.add(owed.answer)


async def produce(
    bootstrap: str,
    generator: Generator,
    topics: Topics,
    records: int,
    *,
    in_flight: int,
    prefix: str = "",
    on_progress: Callable[[int], None] = lambda _: None,
) -> Tally:
    tally = Tally()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        linger_ms=5,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=MAX_REQUEST_BYTES,
        request_timeout_ms=120_000,
    )
    slots = asyncio.Semaphore(in_flight)
    started = time.perf_counter()

    def acked(topic: str, ack: asyncio.Future[Any]) -> None:
        slots.release()
        if not ack.cancelled() and ack.exception() is not None:
            tally.send_errors[f"{topic}: {type(ack.exception()).__name__}"] += 1

    await producer.start()
    try:
        for index in range(records):
            draft = generator.draft(index)
            tally.note(draft, len(topics.consumers[draft.topic]))
            await slots.acquire()
            try:
                ack = await producer.send(
                    on_wire(draft.topic, prefix),
                    draft.value,
                    key=draft.key,
                    headers=draft.headers,
                )
            except Exception as exc:
                slots.release()
                tally.send_errors[f"{draft.topic}: {type(exc).__name__}"] += 1
                continue
            ack.add_done_callback(lambda done, topic=draft.topic: acked(topic, done))
            if index % 1000 == 999:
                on_progress(index + 1)
        await producer.flush()
    finally:
        await producer.stop()
    tally.elapsed_s = time.perf_counter() - started
    return tally
