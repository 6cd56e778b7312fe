"""The faults, and the supervisor that restarts what they kill.

- `kill`: SIGKILL of one service process (a replica when there are several), restarted by the
  supervisor as soon as it is seen dead.
- `broker-pause`: SIGSTOP of Tansu for a random time, then SIGCONT. Tansu keeps its data in
  memory only, so it is never restarted.
- `postgres`: `pg_ctl stop -m immediate` (no checkpoint: crash recovery at the next start), down
  for a random time, then started again the way the devstack starts it.
- `duplicates`: records already on the event topics (consumed, most of them) copied back onto
  them, value, key and headers unchanged: the consumers' inboxes must make them no-ops.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared.devstack.postgres import SYSTEM_USER
from shared.devstack.processes import is_root
from shared.devstack.stack import SuiteStack

Say = Callable[[str], None]
#: records read from the event topics to pick the duplicates from
DUPLICATE_POOL = 2_000


@dataclass
class Fault:
    kind: str
    target: str
    started: float
    ended: float = 0.0
    detail: str = ""
    #: duplicates: the records copied back
    records: int = 0

    def as_json(self, origin: float) -> dict[str, object]:
        return {
            "kind": self.kind,
            "target": self.target,
            "at_s": round(self.started - origin, 1),
            "lasted_s": round(self.ended - self.started, 1),
            "detail": self.detail,
            "records": self.records,
        }


@dataclass
class Supervisor:
    """Restarts every service process found dead; counts who was restarted, and why."""

    stack: SuiteStack
    say: Say
    #: processes killed (or found exited) and not yet started again
    killed: set[str] = field(default_factory=set)
    restarts: Counter[str] = field(default_factory=Counter)
    #: processes that exited without being killed
    unexpected: Counter[str] = field(default_factory=Counter)
    #: a restart is being done: the injector waits for it before the next fault
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        self.idle.set()
        while True:
            for process in self.stack.crashed():
                self.idle.clear()
                if process not in self.killed:
                    self.unexpected[process] += 1
                    self.say(f"{process} exited by itself; restarting it")
                    self.killed.add(process)  # a failed restart below is not counted again
                try:
                    await asyncio.to_thread(self.stack.restart, process)
                except Exception as exc:  # tried again next round; the run must go on
                    self.say(f"could not restart {process}: {exc!r}")
                    continue
                self.killed.discard(process)
                self.restarts[process] += 1
            self.idle.set()
            await asyncio.sleep(0.2)


class Injector:
    def __init__(
        self,
        stack: SuiteStack,
        supervisor: Supervisor,
        rng: random.Random,
        producer: AIOKafkaProducer,
        event_topics: list[str],
        say: Say,
    ) -> None:
        self.stack = stack
        self.supervisor = supervisor
        self.rng = rng
        self.producer = producer
        self.event_topics = event_topics
        self.say = say
        self.done: list[Fault] = []

    async def inject(self, kind: str, options: FaultBounds) -> Fault:
        fault = Fault(kind, "", time.monotonic())
        try:
            if kind == "kill":
                await self._kill(fault)
            elif kind == "broker-pause":
                await self._pause(fault, options.max_broker_pause_s)
            elif kind == "postgres":
                await self._postgres(fault, options.max_postgres_down_s)
            elif kind == "duplicates":
                await self._duplicates(fault, options.duplicates)
            else:
                raise ValueError(kind)
        except (OSError, subprocess.SubprocessError, KafkaError) as exc:
            # the fault went wrong, not the suite: said in the table, the run goes on
            fault.detail = f"failed: {exc!r}"
        fault.ended = time.monotonic()
        self.done.append(fault)
        self.say(
            f"fault {kind} {fault.target} {fault.detail} ({fault.ended - fault.started:.1f} s)"
        )
        return fault

    async def _kill(self, fault: Fault) -> None:
        process = self.rng.choice(sorted(self.stack.services))
        fault.target = process
        self.supervisor.killed.add(process)
        self.stack.services[process].kill()
        # over once the supervisor has started it again (bounded: a restart is quick)
        deadline = time.monotonic() + 60
        while process in self.supervisor.killed or not self.supervisor.idle.is_set():
            if time.monotonic() > deadline:
                fault.detail = "not restarted within 60 s"
                return
            await asyncio.sleep(0.1)
        fault.detail = f"pid {self.stack.services[process].pid} after restart"

    async def _pause(self, fault: Fault, most_s: float) -> None:
        assert self.stack.tansu is not None
        seconds = self.rng.uniform(min(1.0, most_s), most_s)
        fault.target, fault.detail = "tansu", f"SIGSTOP {seconds:.1f} s"
        self.stack.tansu.pause()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.stack.tansu.resume()

    async def _postgres(self, fault: Fault, most_s: float) -> None:
        postgres = self.stack.postgres
        assert postgres is not None and postgres.process is not None
        seconds = self.rng.uniform(min(1.0, most_s), most_s)
        fault.target, fault.detail = "postgresql", f"stop -m immediate, down {seconds:.1f} s"
        await asyncio.to_thread(
            subprocess.run,
            [str(postgres.bin / "pg_ctl"), "-D", str(postgres.data_dir), "stop", "-m", "immediate"],
            check=True,
            capture_output=True,
            user=SYSTEM_USER if is_root() else None,
        )
        await asyncio.to_thread(postgres.process.wait, 30)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(postgres.start)

    async def _duplicates(self, fault: Fault, count: int) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.bootstrap_servers.split(","),
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [
                TopicPartition(topic, p)
                for topic in self.event_topics
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions)
            partitions = [tp for tp in partitions if ends[tp] > 0]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            pool: list[Any] = []
            deadline = time.monotonic() + 30
            empty = 0
            while len(pool) < DUPLICATE_POOL and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                pool += [r for records in batches.values() for r in records]
                # the first fetches of fresh assignments may come back empty
                empty = 0 if batches else empty + 1
                if pool and empty >= 3:
                    break
        finally:
            await consumer.stop()
        chosen = self.rng.sample(pool, min(count, len(pool)))
        for record in chosen:
            await self.producer.send(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
        await self.producer.flush()
        topics = Counter(r.topic for r in chosen)
        fault.records = len(chosen)
        fault.target = f"{len(topics)} topics"
        fault.detail = f"{len(chosen)} records copied back"


@dataclass(frozen=True)
class FaultBounds:
    max_broker_pause_s: float
    max_postgres_down_s: float
    duplicates: int


def schedule(rng: random.Random, kinds: tuple[str, ...]) -> Callable[[], str]:
    """The next fault's kind: rounds of every kind, each round in a random order."""
    queue: list[str] = []

    def next_kind() -> str:
        if not queue:
            queue.extend(rng.sample(kinds, len(kinds)))
        return queue.pop(0)

    return next_kind
