"""The consuming half of the runtime: every consumed record passes through `Runtime.receive`.

A record is (1) decoded as a CloudEvent, (2) matched to a registered type of its topic, (3) for an
event: validated, claimed in the inbox and handled in one transaction with the outbox writes; for
a command: claimed, its actor token verified, validated, handled, and answered with exactly one
`CommandResult`. What can never succeed is dead-lettered; what is transient is retried, and the
offset is committed by FastStream only after `receive` returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shared import metrics
from shared.auth import ActorTokenVerifier, TokenRefused
from shared.clock import Clock
from shared.contract import registry
from shared.contract.base import Actor, Command, Event, Message
from shared.contract.envelope import CloudEvent, EnvelopeError, decode, describe, new_event
from shared.contract.registry import COMMAND_TOPICS, MessageSpec
from shared.contract.results import CommandResult, ReasonCode, result_type
from shared.db import Database
from shared.messaging import inbox
from shared.messaging.deadletter import Record, dead_letter
from shared.messaging.outbox import Outgoing, Send, stage
from shared.messaging.retry import PermanentFailure, RetryPolicy, retrying

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=Command)
EventHandler = Callable[[Any, "HandlerContext"], Awaitable[None]]
#: returns the id of the aggregate the command acted on
CommandHandler = Callable[[Any, "HandlerContext"], Awaitable[str | None]]


def outgoing(
    message: Message, *, source: str, cause: CloudEvent | None = None, type_: str | None = None
) -> Outgoing:
    return Outgoing(
        new_event(message, source=source, cause=cause, type_=type_),
        message.TOPIC,
        message.kafka_key(),
    )


@dataclass
class HandlerContext:
    """What a handler gets besides its message: the transaction, the cause, the clock, `emit`."""

    session: AsyncSession
    cause: CloudEvent | None
    clock: Clock
    source: str
    staged: list[Outgoing] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def emit(self, message: Event) -> None:
        """Publish `message` if, and only if, this transaction commits."""
        self.staged.append(outgoing(message, source=self.source, cause=self.cause))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the transaction has committed (metrics of what really happened)."""
        self.committed.append(callback)

    def run_after_commit(self) -> None:
        for callback in self.committed:
            callback()


class Runtime:
    def __init__(
        self,
        *,
        service: str,
        context: str,
        db: Database,
        send: Send,
        clock: Clock,
        verifier: ActorTokenVerifier,
        refusals: tuple[type[Exception], ...] = (),
        retry: RetryPolicy | None = None,
        topic_prefix: str = "",
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.service = service
        self.context = context
        self.db = db
        self.send = send
        self.clock = clock
        self.verifier = verifier
        self.refusals = refusals
        self.retry = retry or RetryPolicy()
        self.topic_prefix = topic_prefix
        self.on_commit = on_commit
        self.stopping = asyncio.Event()
        self._event_handlers: dict[str, EventHandler] = {}
        self._command_handlers: dict[str, CommandHandler] = {}
        self._topics: set[str] = set()

    # --- registration ---------------------------------------------------------------------

    def on_event(self, model: type[E]) -> Callable[[EventHandler], EventHandler]:
        def register(handler: EventHandler) -> EventHandler:
            self._event_handlers[model.TYPE] = handler
            self._topics.add(model.TOPIC)
            return handler

        return register

    def on_command(self, model: type[C]) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            self._command_handlers[model.TYPE] = handler
            self._topics.add(model.TOPIC)
            return handler

        return register

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[HandlerContext]:
        """A transaction outside any consumed message (timers, HTTP callbacks), with `emit`."""
        async with self.db.transaction() as session:
            ctx = HandlerContext(session, None, self.clock, self.service)
            yield ctx
            await stage(session, ctx.staged)
        ctx.run_after_commit()
        if ctx.staged:
            self.on_commit()

    def consume_commands(self, topic: str) -> None:
        """Answer every command of `topic`, even before any handler is registered for it."""
        self._topics.add(topic)

    @property
    def topics(self) -> list[str]:
        return sorted(self._topics)

    # --- consuming ------------------------------------------------------------------------

    async def receive(self, record: Record) -> None:
        """Handle one record to its end: applied, answered, or dead-lettered."""

        def note_retry(exc: BaseException, transient: bool) -> None:
            kind = "transient" if transient else type(exc).__name__
            metrics.HANDLER_RETRIES.labels(self.service, record.topic, kind).inc()
            log.warning("retrying %s@%s: %r", record.topic, record.offset, exc)

        with metrics.HANDLING_SECONDS.labels(self.service, record.topic).time():
            try:
                await retrying(
                    lambda: self._handle(record),
                    self.retry,
                    on_retry=note_retry,
                    stopping=self.stopping,
                )
            except PermanentFailure as exc:
                log.error(
                    "dead-lettering %s@%s after failures: %s", record.topic, record.offset, exc
                )
                error = str(exc)
                await retrying(
                    lambda: self._dead_letter(record, "handler_failed", error),
                    self.retry,
                    on_retry=note_retry,
                    stopping=self.stopping,
                )

    async def _handle(self, record: Record) -> None:
        try:
            event = decode(record.value)
        except EnvelopeError as exc:
            return await self._dead_letter(record, exc.reason, str(exc))
        spec = registry.spec(event.type)
        if spec is None or spec.topic != record.topic:
            await self._dead_letter(
                record, "unknown_type", f"{event.type!r} is not a message of {record.topic}"
            )
            if record.topic in COMMAND_TOPICS:
                await self._answer_unknown(event)
            return None
        if spec.kind == "command":
            return await self._execute(event, spec, record)
        return await self._apply(event, spec, record)

    async def _apply(self, event: CloudEvent, spec: MessageSpec, record: Record) -> None:
        handler = self._event_handlers.get(event.type)
        if handler is None:
            return  # a type of this topic that this service does not act on
        try:
            message = spec.model.model_validate(event.data)
        except ValidationError as exc:
            return await self._dead_letter(record, "invalid_data", describe(exc))
        async with self.db.transaction() as session:
            if await inbox.claim(session, event, record.topic) is not None:
                metrics.INBOX_DUPLICATES.labels(self.service, record.topic).inc()
                return
            ctx = HandlerContext(session, event, self.clock, self.service)
            await handler(message, ctx)
            await stage(session, ctx.staged)
        ctx.run_after_commit()
        self.on_commit()

    async def _execute(self, event: CloudEvent, spec: MessageSpec, record: Record) -> None:
        async with self.db.transaction() as session:
            ctx = HandlerContext(session, event, self.clock, self.service)
            seen = await inbox.claim(session, event, record.topic)
            if seen is None:
                result = await self._decide(event, spec, ctx)
                await inbox.remember_result(session, event.id, result.model_dump(mode="json"))
            else:
                metrics.INBOX_DUPLICATES.labels(self.service, record.topic).inc()
                result = self._replay(event, seen)
            await stage(session, [*ctx.staged, self._result_message(result, event)])
        ctx.run_after_commit()
        metrics.COMMAND_RESULTS.labels(
            self.service, event.type, result.status, result.reason_code or ""
        ).inc()
        self.on_commit()

    async def _decide(
        self, event: CloudEvent, spec: MessageSpec, ctx: HandlerContext
    ) -> CommandResult:
        try:
            actor = Actor.model_validate(event.data.get("actor"))
        except ValidationError as exc:
            return self._rejected(event, ReasonCode.MALFORMED, f"actor: {describe(exc)}")
        try:
            self.verifier.verify(event.actortoken, actor)
        except TokenRefused as exc:
            return self._rejected(event, ReasonCode.INVALID_TOKEN, str(exc))
        try:
            command = spec.model.model_validate(event.data)
        except ValidationError as exc:
            return self._rejected(event, _reason_of(exc), describe(exc))
        handler = self._command_handlers.get(event.type)
        if handler is None:
            return self._rejected(
                event, ReasonCode.UNSUPPORTED, f"{self.service} does not handle {event.type}"
            )
        try:
            async with ctx.session.begin_nested():
                aggregate_id = await handler(command, ctx)
        except self.refusals as refusal:
            ctx.staged.clear()
            ctx.committed.clear()
            return self._rejected(event, getattr(refusal, "reason_code", "refused"), str(refusal))
        return CommandResult(
            command_id=event.id,
            command_type=event.type,
            status="accepted",
            aggregate_id=aggregate_id,
        )

    def _replay(self, event: CloudEvent, seen: inbox.Seen) -> CommandResult:
        if seen.fingerprint != inbox.fingerprint(event) or seen.result is None:
            return self._rejected(
                event,
                ReasonCode.IDEMPOTENCY_CONFLICT,
                "this command id was already used with another body",
            )
        return CommandResult.model_validate(seen.result)

    async def _answer_unknown(self, event: CloudEvent) -> None:
        result = self._rejected(event, ReasonCode.MALFORMED, f"unknown command type {event.type!r}")
        async with self.db.transaction() as session:
            await stage(session, [self._result_message(result, event)])
        metrics.COMMAND_RESULTS.labels(self.service, "unknown", "rejected", "malformed").inc()
        self.on_commit()

    def _rejected(self, event: CloudEvent, reason: str, message: str) -> CommandResult:
        return CommandResult(
            command_id=event.id,
            command_type=event.type,
            status="rejected",
            reason_code=str(reason),
            message=message,
        )

    def _result_message(self, result: CommandResult, cause: CloudEvent) -> Outgoing:
        return outgoing(result, source=self.service, cause=cause, type_=result_type(self.context))

    async def _dead_letter(self, record: Record, reason: str, error: str) -> None:
        await dead_letter(
            self.send, record, reason, error, service=self.service, prefix=self.topic_prefix
        )
        metrics.DEAD_LETTERED.labels(self.service, record.topic, reason).inc()
        log.warning("dead-lettered %s@%s (%s): %s", record.topic, record.offset, reason, error)


def _reason_of(exc: ValidationError) -> ReasonCode:
    """An amount out of bounds is `invalid_amount`; any other invalid field is `malformed`."""
    fields = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    if fields and all("amount" in name for name in fields):
        return ReasonCode.INVALID_AMOUNT
    return ReasonCode.MALFORMED
