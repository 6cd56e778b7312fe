"""The bench's side of Kafka: one producer with many sends in flight, one consumer (no group, from
the earliest offset: the topics are fresh in the bench's own broker) of `command-results` and of
the events a lifecycle waits for. Answers are matched by command id, events by the payment or
escrow id they name, each in a dict of futures; a record nobody waits for is dropped."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.auth import sign_actor_token
from shared.contract.base import Actor, Command
from shared.contract.envelope import CONTENT_TYPE, new_event
from shared.contract.registry import COMMAND_RESULTS

SOURCE = "bench"
HEADERS = [("content-type", CONTENT_TYPE.encode())]
#: one token per actor, reused: it lives within the services' ACTOR_TOKEN_MAX_LIFETIME_S (15 min
#: by default) and is replaced once half of it has passed, so a run of any length keeps going and
#: a command that waits in a backlog still has minutes of validity when a service verifies it
TOKEN_TTL = timedelta(minutes=10)
TOKEN_REFRESH_S = TOKEN_TTL.total_seconds() / 2
#: no linger: the producer batches by itself whatever accumulates while a request is in flight
LINGER_MS = 0
MAX_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class Answer:
    """A command's `CommandResult`, and when the bench's consumer got it (`perf_counter`)."""

    status: str
    reason_code: str | None
    at: float

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Seen:
    """An awaited event's data, and when the bench's consumer got it."""

    data: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Sent:
    command_id: str
    at: float
    answer: asyncio.Future[Answer]


def _escrow_id(data: dict[str, Any]) -> str | None:
    escrow = data.get("escrow")
    return str(escrow.get("escrow_id")) if isinstance(escrow, dict) else None


def _payment_id(data: dict[str, Any]) -> str | None:
    found = data.get("payment_id")
    return str(found) if found is not None else None


#: the events a lifecycle waits for, and the id each is awaited by
EVENT_IDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "payment-started": _payment_id,
    "escrow-funded": _escrow_id,
    "escrow-released": _escrow_id,
}


class Driver:
    """Sends signed commands and hands each answer and awaited event to whoever waits for it."""

    def __init__(self, bootstrap_servers: str, private_key_pem: str, *, fetch_max_wait_ms: int):
        servers = bootstrap_servers.split(",")
        self.private_key_pem = private_key_pem
        self.producer = AIOKafkaProducer(
            bootstrap_servers=servers,
            acks="all",
            linger_ms=LINGER_MS,
            max_batch_size=MAX_BATCH_BYTES,
        )
        self.consumer = AIOKafkaConsumer(
            COMMAND_RESULTS,
            *EVENT_IDS,
            bootstrap_servers=servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        self._answers: dict[str, asyncio.Future[Answer]] = {}
        self._events: dict[tuple[str, str], asyncio.Future[Seen]] = {}
        #: each actor's token, and when it was signed (`monotonic`)
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        #: commands given up on: their answers are still owed (every command gets exactly one)
        self._late: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.counts = {
            "sent": 0,
            "answered": 0,
            "answered_late": 0,
            "events": 0,
            "dropped": 0,
            "send_errors": 0,
        }

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        self._task = asyncio.create_task(self._consume(), name="bench consumer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.consumer.stop()
        await self.producer.stop()

    def check(self) -> None:
        """Raise if the consumer stopped (every answer would then time out)."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            raise RuntimeError(f"the bench's consumer stopped: {self._task.exception()!r}")

    # --- sending ---------------------------------------------------------------------------

    def token(self, actor: Actor) -> str:
        """The actor's token, signed again once it is `TOKEN_REFRESH_S` old."""
        key = (actor.user_id, actor.role.value)
        now = time.monotonic()
        signed = self._tokens.get(key)
        if signed is None or now - signed[1] >= TOKEN_REFRESH_S:
            signed = (sign_actor_token(self.private_key_pem, actor, ttl=TOKEN_TTL), now)
            self._tokens[key] = signed
        return signed[0]

    async def send(self, command: Command) -> Sent:
        """Send without waiting for the broker's ack; the answer is a future (a failed send
        fails it). The clock starts just before the record is handed to the producer."""
        command_id = str(uuid.uuid4())
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._answers[command_id] = answer
        value = new_event(
            command, source=SOURCE, actortoken=self.token(command.actor), event_id=command_id
        ).encode()
        at = time.perf_counter()
        ack = await self.producer.send(
            command.TOPIC, value, key=command.kafka_key().encode(), headers=HEADERS
        )
        ack.add_done_callback(partial(self._acked, command_id))
        self.counts["sent"] += 1
        return Sent(command_id, at, answer)

    def _acked(self, command_id: str, ack: asyncio.Future[Any]) -> None:
        if ack.cancelled() or ack.exception() is None:
            return
        self.counts["send_errors"] += 1
        answer = self._answers.pop(command_id, None)
        if answer is not None and not answer.done():
            answer.set_exception(ack.exception() or RuntimeError("send failed"))

    def expect(self, topic: str, id_: str) -> asyncio.Future[Seen]:
        """Wait for an event of `topic` naming `id_`: call before sending what causes it."""
        seen: asyncio.Future[Seen] = asyncio.get_running_loop().create_future()
        self._events[(topic, id_)] = seen
        return seen

    def forget(self, command_id: str | None = None, event: tuple[str, str] | None = None) -> None:
        """Stop waiting; a command's answer is then owed (`owed`), and counted late if it comes."""
        if command_id is not None and self._answers.pop(command_id, None) is not None:
            self._late.add(command_id)
        if event is not None:
            self._events.pop(event, None)

    @property
    def owed(self) -> int:
        """Answers to commands given up on that have not come yet: the suite's backlog."""
        return len(self._late)

    async def wait_owed(self, timeout: float) -> float:
        """Wait (at most `timeout`) until every answer given up on has come; seconds waited."""
        started = time.perf_counter()
        while self._late and time.perf_counter() - started < timeout:
            await asyncio.sleep(0.05)
        return time.perf_counter() - started

    # --- receiving -------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=500)
            at = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self._dispatch(record.topic, record.value, at)

    def _dispatch(self, topic: str, value: bytes | None, at: float) -> None:
        try:
            data = json.loads(value or b"")["data"]
        except (ValueError, KeyError, TypeError):
            self.counts["dropped"] += 1
            return
        if topic == COMMAND_RESULTS:
            command_id = str(data.get("command_id"))
            answer = self._answers.pop(command_id, None)
            if answer is not None and not answer.done():
                self.counts["answered"] += 1
                answer.set_result(Answer(str(data.get("status")), data.get("reason_code"), at))
                return
            if command_id in self._late:
                self._late.discard(command_id)
                self.counts["answered_late"] += 1
                return
        elif (find := EVENT_IDS.get(topic)) is not None:
            seen = self._events.pop((topic, str(find(data))), None)
            if seen is not None and not seen.done():
                self.counts["events"] += 1
                seen.set_result(Seen(data, at))
                return
        self.counts["dropped"] += 1
