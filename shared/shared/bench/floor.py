"""(e) The floor: what the suite's own PostgreSQL and Tansu servers do at best, in the same run.

asyncpg `BEGIN; INSERT; COMMIT` on 1 and on 8 connections (a scratch database of the bench's,
`bench_floor`); Tansu batched produce and batched consume (aiokafka, a scratch topic, records the
size of an `OpenContract` command); and the one-record produce → consume round trip, with the
same consumer settings as the bench's driver. Every loop stops at its count or its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.bench.driver import HEADERS, LINGER_MS, MAX_BATCH_BYTES
from shared.bench.options import Options
from shared.bench.resources import Resources
from shared.bench.stats import percentile, rate
from shared.bench.suite import Suite
from shared.settings import ServiceSettings

DATABASE = "bench_floor"
TOPIC = "bench-floor"
ROUND_TRIP_TOPIC = "bench-floor-round-trip"
INSERT = "INSERT INTO floor_commits (payload) VALUES ($1)"
#: a commit loop also stops after this many commits, whatever its duration
MAX_COMMITS = 1_000_000
#: the services' fetch wait when their environment does not set one; Tansu answers a fetch only
#: when the wait is over, so the services' wait bounds what one hop through a service costs
DEFAULT_FETCH_WAIT_MS = int(ServiceSettings.model_fields["kafka_fetch_max_wait_ms"].default)
SERVICE_WAIT_ROUND_TRIPS = 30


@dataclass
class Floor:
    commits_per_s_1: float = 0.0
    commits_per_s_8: float = 0.0
    commit_p50_ms_1: float | None = None
    produce_msgs_per_s: float = 0.0
    consume_msgs_per_s: float = 0.0
    round_trip_p50_ms: float | None = None
    round_trip_p99_ms: float | None = None
    #: the same with the services' fetch wait (as the escrow process got it) instead of the bench's
    service_fetch_wait_ms: int = DEFAULT_FETCH_WAIT_MS
    service_wait_round_trip_p50_ms: float | None = None
    record_bytes: int = 0
    messages: int = 0
    round_trips: int = 0
    #: PostgreSQL CPU per commit on 1 connection; Tansu CPU per record produced and consumed
    postgres_cpu_ms_per_commit: float | None = None
    tansu_cpu_ms_per_record: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def measure(suite: Suite, options: Options, resources: Resources, record: bytes) -> Floor:
    floor = Floor(record_bytes=len(record))
    await _commit_floor(suite, options, resources, floor)
    await _broker_floor(suite, options, resources, floor, record)
    return floor


# --- PostgreSQL ------------------------------------------------------------------------------


async def _commit_floor(suite: Suite, options: Options, resources: Resources, floor: Floor) -> None:
    await _scratch_database(suite)
    dsn = suite.postgres_dsn(DATABASE)
    for connections in (1, 8):
        # connected before and closed after the reading: backends that exit mid-reading could
        # be missed by the CPU counters
        pool = [await asyncpg.connect(dsn) for _ in range(connections)]
        try:
            resources.begin(f"e commits, {connections} conn")
            count, elapsed, latencies = await commits(pool, options.duration)
            usage = resources.end(count, "commit")
        finally:
            await asyncio.gather(*(c.close() for c in pool), return_exceptions=True)
        if connections == 1:
            floor.commits_per_s_1 = rate(count, elapsed)
            p50 = percentile(latencies, 0.5)
            floor.commit_p50_ms_1 = None if p50 is None else p50 * 1000
            floor.postgres_cpu_ms_per_commit = usage.per_unit_ms("postgresql")
        else:
            floor.commits_per_s_8 = rate(count, elapsed)


async def _scratch_database(suite: Suite) -> None:
    admin = await asyncpg.connect(suite.postgres_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    scratch = await asyncpg.connect(suite.postgres_dsn(DATABASE))
    try:
        await scratch.execute(
            "CREATE TABLE floor_commits (id bigserial PRIMARY KEY, "
            "at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)"
        )
    finally:
        await scratch.close()


async def commits(pool: list[Any], duration: float) -> tuple[int, float, list[float]]:
    """`BEGIN; INSERT; COMMIT` back to back on each connection for `duration` seconds."""
    latencies: list[float] = []
    payload = "x" * 200
    started = time.perf_counter()
    deadline = started + duration

    async def loop(connection: Any) -> None:
        while (now := time.perf_counter()) < deadline and len(latencies) < MAX_COMMITS:
            async with connection.transaction():
                await connection.execute(INSERT, payload)
            latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(loop(c) for c in pool))
    return len(latencies), time.perf_counter() - started, latencies


# --- Tansu -----------------------------------------------------------------------------------


async def _broker_floor(
    suite: Suite, options: Options, resources: Resources, floor: Floor, record: bytes
) -> None:
    servers = suite.bootstrap_servers.split(",")
    await _scratch_topics(servers)
    producer = AIOKafkaProducer(
        bootstrap_servers=servers, acks="all", linger_ms=LINGER_MS, max_batch_size=MAX_BATCH_BYTES
    )
    await producer.start()
    try:
        resources.begin("e tansu produce + consume")
        sent, floor.produce_msgs_per_s = await produce(producer, record, options)
        got, floor.consume_msgs_per_s = await consume(servers, sent, options)
        usage = resources.end(sent + got, "record")
        floor.messages = sent
        floor.tansu_cpu_ms_per_record = usage.per_unit_ms("tansu")
        trips = RoundTrips(producer, servers, record, options)
        latencies = await trips.measure(options.fetch_max_wait_ms, options.floor_round_trips)
        count = min(options.floor_round_trips, SERVICE_WAIT_ROUND_TRIPS)
        floor.service_fetch_wait_ms = suite.fetch_wait_ms(DEFAULT_FETCH_WAIT_MS)
        slow = await trips.measure(floor.service_fetch_wait_ms, count)
    finally:
        await producer.stop()
    floor.round_trips = len(latencies)
    floor.round_trip_p50_ms = _ms(percentile(latencies, 0.5))
    floor.round_trip_p99_ms = _ms(percentile(latencies, 0.99))
    floor.service_wait_round_trip_p50_ms = _ms(percentile(slow, 0.5))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def _scratch_topics(servers: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(TOPIC, 3, 1), NewTopic(ROUND_TRIP_TOPIC, 1, 1)]
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


async def produce(producer: AIOKafkaProducer, record: bytes, options: Options) -> tuple[int, float]:
    """Up to `floor_messages` records without waiting for each ack; msgs/s until all acked."""
    acks = []
    started = time.perf_counter()
    deadline = started + options.duration
    for i in range(options.floor_messages):
        if i % 1000 == 0 and time.perf_counter() > deadline:
            break
        acks.append(await producer.send(TOPIC, record, key=str(i).encode(), headers=HEADERS))
    await asyncio.gather(*acks)
    return len(acks), rate(len(acks), time.perf_counter() - started)


async def consume(servers: list[str], expected: int, options: Options) -> tuple[int, float]:
    """Read the produced records back from the beginning; msgs/s over the reading."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=options.fetch_max_wait_ms,
    )
    await consumer.start()
    got = 0
    started = time.perf_counter()
    deadline = started + max(options.duration * 4, 10)
    try:
        while got < expected and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            got += sum(len(records) for records in batches.values())
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return got, rate(got, elapsed)


@dataclass
class RoundTrips:
    """One record at a time: from handing it to the producer until a consumer has it."""

    producer: AIOKafkaProducer
    servers: list[str]
    record: bytes
    options: Options
    warmup: int = 3

    async def measure(self, fetch_max_wait_ms: int, count: int) -> list[float]:
        consumer = AIOKafkaConsumer(
            ROUND_TRIP_TOPIC,
            bootstrap_servers=self.servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        await consumer.start()
        waiting: dict[bytes, asyncio.Future[float]] = {}
        reader = asyncio.create_task(_read_round_trips(consumer, waiting))
        try:
            return await self._trips(waiting, count)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await consumer.stop()

    async def _trips(self, waiting: dict[bytes, asyncio.Future[float]], count: int) -> list[float]:
        latencies: list[float] = []
        deadline = time.perf_counter() + max(self.options.duration, 1.0)
        for i in range(count + self.warmup):
            if time.perf_counter() > deadline:
                break
            key = uuid.uuid4().hex.encode()
            arrived = waiting[key] = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            await self.producer.send(ROUND_TRIP_TOPIC, self.record, key=key, headers=HEADERS)
            with contextlib.suppress(TimeoutError):
                got = await asyncio.wait_for(arrived, self.options.answer_timeout_s)
                if i >= self.warmup:
                    latencies.append(got - started)
        return latencies


async def _read_round_trips(
    consumer: AIOKafkaConsumer, waiting: dict[bytes, asyncio.Future[float]]
) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=500)
        at = time.perf_counter()
        for records in batches.values():
            for found in records:
                arrived = waiting.pop(found.key, None)
                if arrived is not None and not arrived.done():
                    arrived.set_result(at)
