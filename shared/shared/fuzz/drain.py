"""Has the suite caught up? Each service's consumer group against the end of every partition of
the topics it consumes (its committed offset, as the broker keeps it, against the partition's end
offset), and each service's outbox (rows committed and not yet published: their records are still
to come, and their consumers' lag with them). Caught up: no lag and no backlog, twice in a row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contract.registry import on_wire
from shared.fuzz.topics import Topics

BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND quarantined_at IS NULL"
QUARANTINED = "SELECT count(*) FROM outbox WHERE quarantined_at IS NOT NULL"
#: (group, topic, partition)
Where = tuple[str, str, int]


@dataclass
class Reading:
    lag: dict[Where, int]
    backlog: dict[str, int]
    quarantined: dict[str, int]
    at: float = field(default_factory=time.perf_counter)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    @property
    def caught_up(self) -> bool:
        return self.total_lag == 0 and not any(self.backlog.values())

    def lagging(self, limit: int = 20) -> list[str]:
        found = sorted(((n, w) for w, n in self.lag.items() if n), reverse=True)[:limit]
        return [f"{g} {t}[{p}]: {n} behind" for n, (g, t, p) in found] + [
            f"{s} outbox: {n} unpublished" for s, n in self.backlog.items() if n
        ]


class Drain:
    def __init__(self, bootstrap: str, topics: Topics, dsn_of: dict[str, str], prefix: str = ""):
        servers = bootstrap.split(",")
        self.topics = topics
        self.prefix = prefix
        self.dsn_of = dsn_of
        self.admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None)
        self.max_lag = 0
        self.readings = 0

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def read(self) -> Reading:
        wire = {on_wire(t, self.prefix): t for t in self.topics.names}
        await self.consumer.topics()  # fresh metadata: every topic's partitions
        partitions = [
            TopicPartition(name, p)
            for name in wire
            for p in sorted(self.consumer.partitions_for_topic(name) or ())
        ]
        ends = await self.consumer.end_offsets(partitions)
        lag: dict[Where, int] = {}
        for group in self.topics.services:
            mine = set(self.topics.of(group))
            asked = [tp for tp in partitions if wire[tp.topic] in mine]
            # the partitions named: Tansu drops the connection when asked for "all of them"
            committed = await self.admin.list_consumer_group_offsets(group, partitions=asked)
            for tp in asked:
                done = committed.get(tp)
                offset = done.offset if done is not None and done.offset >= 0 else 0
                lag[(group, wire[tp.topic], tp.partition)] = max(0, ends[tp] - offset)
        backlog, quarantined = await self._outboxes()
        reading = Reading(lag, backlog, quarantined)
        self.max_lag = max(self.max_lag, reading.total_lag)
        self.readings += 1
        return reading

    async def _outboxes(self) -> tuple[dict[str, int], dict[str, int]]:
        backlog, quarantined = {}, {}
        for service, dsn in self.dsn_of.items():
            connection = await asyncpg.connect(dsn)
            try:
                backlog[service] = int(await connection.fetchval(BACKLOG))
                quarantined[service] = int(await connection.fetchval(QUARANTINED))
            finally:
                await connection.close()
        return backlog, quarantined

    async def until_caught_up(
        self,
        timeout_s: float,
        interval_s: float,
        on_reading: Callable[[Reading], None],
        *,
        stall_s: float | None = None,
    ) -> tuple[bool, Reading, str]:
        """Read until two readings in a row are caught up: (True, the last reading, ""). Else
        (False, it, why): `timeout_s` is over, or for `stall_s` the work left (lag and outbox
        backlog) never fell below the least seen — no progress, a stall."""
        started = time.perf_counter()
        least, progressed = None, started
        streak = 0
        while True:
            reading = await self.read()
            on_reading(reading)
            left = reading.total_lag + sum(reading.backlog.values())
            if least is None or left < least:
                least, progressed = left, reading.at
            streak = streak + 1 if reading.caught_up else 0
            if streak >= 2:
                return True, reading, ""
            if stall_s is not None and reading.at - progressed >= stall_s:
                return False, reading, f"no progress for {reading.at - progressed:.0f} s"
            if reading.at - started >= timeout_s:
                return False, reading, f"not caught up after {timeout_s:g} s"
            await asyncio.sleep(interval_s)
