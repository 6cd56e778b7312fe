"""A client of the suite over Kafka only: sign and send commands, watch topics, await results.

`escrowctl`, the demo and the end-to-end tests all talk to the suite through this.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared.auth import sign_actor_token
from shared.contract import registry
from shared.contract.base import Command
from shared.contract.envelope import (
    CONTENT_TYPE,
    CloudEvent,
    EnvelopeError,
    decode,
    new_event,
    read,
)
from shared.contract.registry import COMMAND_RESULTS, off_wire, on_wire
from shared.contract.results import CommandResult
from shared.signing import DevelopmentKeyring, Keyring

log = logging.getLogger(__name__)

#: how long stopping a watcher may take
STOP_WAIT_S = 5.0


class Watcher:
    """Reads topics from their beginning in the background (no consumer group, no rebalance).

    A command's result is taken only from the service that answers its type: signed by one of
    that service's keys in `keyring`, with its name as `source`; anything else on
    `command-results` is ignored (anyone who can write the topic could have written it)."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Iterable[str],
        *,
        prefix: str = "",
        keyring: Keyring | None = None,
    ) -> None:
        self.prefix = prefix
        self.keyring = keyring or DevelopmentKeyring()
        self.records: list[ConsumerRecord[bytes, bytes]] = []
        #: the first genuine answer to each command id, verified once as it arrives
        self._results: dict[str, CommandResult] = {}
        self._changed = asyncio.Condition()
        self._consumer = AIOKafkaConsumer(
            *(on_wire(t, prefix) for t in topics),
            bootstrap_servers=bootstrap_servers.split(","),
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            metadata_max_age_ms=1000,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop reading. A fetch the broker never answers (seen with Tansu at the end of long
        runs) must not hold the caller for the consumer's 40 s request timeout, nor fail it:
        nothing read is at stake, so the wait is bounded and its errors are only logged."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(self._consumer.stop(), STOP_WAIT_S)
        except (TimeoutError, KafkaError, asyncio.CancelledError) as exc:
            log.warning("the watcher's consumer did not stop cleanly: %r", exc)

    async def _run(self) -> None:
        async for record in self._consumer:
            async with self._changed:
                self.records.append(record)
                if off_wire(record.topic, self.prefix) == COMMAND_RESULTS:
                    self._note_answer(record.value)
                self._changed.notify_all()

    def events(self, topic: str) -> list[CloudEvent]:
        """The decodable CloudEvents seen so far on `topic` (logical name)."""
        found = []
        for record in self.records:
            if off_wire(record.topic, self.prefix) != topic:
                continue
            try:
                found.append(decode(record.value))
            except EnvelopeError:
                continue
        return found

    def on(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for r in self.records if off_wire(r.topic, self.prefix) == topic]

    async def wait_for(self, found: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Wait until `found()` returns something truthy, and return it."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not (result := found()):
                    await self._changed.wait()
                return result

    async def result_of(self, command_id: str, timeout: float = 20.0) -> CommandResult:
        result: CommandResult = await self.wait_for(lambda: self._results.get(command_id), timeout)
        return result

    def _note_answer(self, value: bytes | None) -> None:
        """Keep the record if it is a command result of the service that answers its type."""
        try:
            event, document = read(value)
            spec = registry.spec(event.type)
            if spec is None or spec.kind != "result":
                return
            forged = registry.provenance(event, document, spec, self.keyring)
            if forged is not None:
                log.warning("ignoring a command result that is not its service's: %s", forged[1])
                return
            result = CommandResult.model_validate(event.data)
        except (EnvelopeError, ValidationError):
            return
        self._results.setdefault(result.command_id, result)


class SuiteClient:
    """Sends commands signed with the development (or any) private key, and awaits results."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        prefix: str = "",
        private_key_pem: str | None = None,
        source: str = "escrowctl",
        watch: Iterable[str] = (),
        keyring: Keyring | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.private_key_pem = private_key_pem
        self.source = source
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers.split(","), acks="all")
        self.watcher = Watcher(
            bootstrap_servers, {COMMAND_RESULTS, *watch}, prefix=prefix, keyring=keyring
        )

    async def __aenter__(self) -> SuiteClient:
        await self.producer.start()
        await self.watcher.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.watcher.stop()
        await self.producer.stop()

    def envelope(
        self, command: Command, *, command_id: str | None = None, token: str | None = None
    ) -> CloudEvent:
        if token is None and self.private_key_pem:
            token = sign_actor_token(self.private_key_pem, command.actor, ttl=timedelta(minutes=5))
        return new_event(command, source=self.source, actortoken=token, event_id=command_id)

    async def send(
        self, command: Command, *, command_id: str | None = None, token: str | None = None
    ) -> CloudEvent:
        event = self.envelope(command, command_id=command_id, token=token)
        await self.publish(command.TOPIC, event.encode(), key=command.kafka_key())
        return event

    async def publish(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """One record as is; a `None` value is a tombstone (`shared.contract.tombstone`)."""
        sent = [] if value is None else [("content-type", CONTENT_TYPE.encode())]
        sent += [(name, text.encode()) for name, text in (headers or {}).items()]
        await self.producer.send_and_wait(
            on_wire(topic, self.prefix),
            value,
            key=(key or str(uuid.uuid4())).encode(),
            headers=sent,
        )

    async def execute(self, command: Command, *, timeout: float = 20.0, **kw: Any) -> CommandResult:
        """Send a command and wait for its `CommandResult`."""
        event = await self.send(command, **kw)
        return await self.watcher.result_of(event.id, timeout)
