"""The consuming half of the runtime: every consumed batch passes through `Runtime.receive_batch`.

A record is (1) decoded as a CloudEvent, (2) matched to a registered type of its topic, (3) for an
event: checked to come from the type's producer (its `source` and signature, `shared.signing`),
validated, claimed in the inbox and handled in one transaction with the outbox writes; for
a command: claimed, its actor token verified, validated, handled, and answered with exactly one
`CommandResult`. What can never succeed is dead-lettered (a command whose handling fails for good
is answered `internal_error` too); what is transient is retried, and FastStream commits the
batch's offsets only after `receive_batch` returns.

Throughput comes from handling many records per transaction (group commit, one savepoint per
record) in several lanes at once, with one key's records always in one lane, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shared import metrics
from shared.auth import ActorTokenVerifier, TokenRefused
from shared.clock import Clock
from shared.contract import registry
from shared.contract.base import Actor, Command, Event, Message
from shared.contract.envelope import (
    MAX_REFUSAL_TEXT,
    Cause,
    CloudEvent,
    EnvelopeError,
    describe,
    new_event,
    read,
    shorten,
)
from shared.contract.registry import COMMAND_TOPICS, MessageSpec, provenance
from shared.contract.results import CommandResult, ReasonCode, result_type
from shared.contract.tombstone import Tombstone, read_tombstone
from shared.db import Database
from shared.messaging import batch, inbox
from shared.messaging.deadletter import Record, dead_letter
from shared.messaging.outbox import MAX_MESSAGE_BYTES, Outgoing, Send, check_size, stage
from shared.messaging.retry import (
    PermanentFailure,
    RetryPolicy,
    failure_text,
    from_database,
    retrying,
)
from shared.signing import DevelopmentKeyring, Keyring, Signer

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=Command)
EventHandler = Callable[[Any, "HandlerContext"], Awaitable[None]]
#: returns the id of the aggregate the command acted on
CommandHandler = Callable[[Any, "HandlerContext"], Awaitable[str | None]]
TombstoneHandler = Callable[[Tombstone, "HandlerContext"], Awaitable[None]]


def outgoing(
    message: Message, *, signer: Signer, cause: Cause | None = None, type_: str | None = None
) -> Outgoing:
    """`message` signed by its producer, whose name is its `source`."""
    event = new_event(message, source=signer.producer, cause=cause, type_=type_, signer=signer)
    return Outgoing(event, message.TOPIC, message.kafka_key())


@dataclass
class HandlerContext:
    """What a handler gets besides its message: the transaction, the cause, the clock, `emit`."""

    session: AsyncSession
    cause: CloudEvent | None
    clock: Clock
    #: signs what the handler emits; its producer is the messages' `source`
    signer: Signer
    staged: list[Outgoing] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)
    #: the largest message this service may publish (`MAX_MESSAGE_BYTES`)
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def emit(self, message: Event) -> None:
        """Publish `message` if, and only if, this transaction commits. A message over the size
        limit raises `MessageTooLarge` here, inside the handler: its record fails alone (and is
        dead-lettered), instead of an unpublishable row reaching the outbox."""
        staged = outgoing(message, signer=self.signer, cause=self.cause)
        check_size(staged, self.max_message_bytes)
        self.staged.append(staged)

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
        signer: Signer | None = None,
        keyring: Keyring | None = None,
        refusals: tuple[type[Exception], ...] = (),
        retry: RetryPolicy | None = None,
        topic_prefix: str = "",
        on_commit: Callable[[], None] = lambda: None,
        max_lanes: int = 4,
        group_size: int = 64,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_record_age: timedelta = timedelta(seconds=inbox.MAX_RECORD_AGE_S),
    ) -> None:
        self.service = service
        self.context = context
        self.db = db
        self.send = send
        self.clock = clock
        self.verifier = verifier
        #: signs every event and result this service publishes
        self.signer = signer or Signer.development(service)
        #: the producers' public keys every consumed event is verified against
        self.keyring = keyring or DevelopmentKeyring()
        self.refusals = refusals
        self.retry = retry or RetryPolicy()
        self.topic_prefix = topic_prefix
        self.on_commit = on_commit
        #: lanes of one batch handled at once (each holds a database connection)
        self.max_lanes = max_lanes
        #: records committed together in one transaction of a lane
        self.group_size = group_size
        #: a larger consumed record is dead-lettered `too_large`; a larger outgoing one fails
        self.max_message_bytes = max_message_bytes
        #: an older record is dead-lettered `too_old`: its inbox row may have been pruned
        self.max_record_age = max_record_age
        self.stopping = asyncio.Event()
        self._event_handlers: dict[str, EventHandler] = {}
        self._command_handlers: dict[str, CommandHandler] = {}
        #: compacted topic -> (the producer that may erase a key on it, its handler)
        self._tombstone_handlers: dict[str, tuple[str, TombstoneHandler]] = {}
        self._topics: set[str] = set()

    # --- registration ---------------------------------------------------------------------

    def on_event(self, model: type[E]) -> Callable[[EventHandler], EventHandler]:
        def register(handler: EventHandler) -> EventHandler:
            self._event_handlers[model.TYPE] = handler
            self._topics.add(model.TOPIC)
            return handler

        return register

    def on_tombstone(self, model: type[E]) -> Callable[[TombstoneHandler], TombstoneHandler]:
        """Handle a null-valued record on `model`'s compacted topic as the deletion of its key,
        signed by `model`'s producer (`shared.contract.tombstone`); without a handler such a
        record is dead-lettered `empty`."""

        def register(handler: TombstoneHandler) -> TombstoneHandler:
            spec = registry.spec_of(model)
            assert spec.topic in registry.COMPACTED_TOPICS, f"{spec.topic} is not compacted"
            self._tombstone_handlers[spec.topic] = (spec.producer or "", handler)
            self._topics.add(spec.topic)
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
            ctx = self._context(session, None)
            yield ctx
            await stage(session, ctx.staged, limit=self.max_message_bytes)
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

    async def receive_batch(self, records: Sequence[Record]) -> None:
        """Handle a fetched batch to its end; the caller commits the offsets after it returns.

        Records are split into lanes by key (one key's records in one lane, in fetch order) and
        the lanes run concurrently. A lane handles its records in group transactions of at most
        `group_size`, each record under its own savepoint: a refusal or an error in one record
        neither aborts nor delays the others. A record whose handling raised is rolled back
        alone and handled again after its group committed, on its own (`_alone`), together with
        the later records of its key, so that key's order holds.
        """
        started = time.perf_counter()
        items = [self._prepare(record) for record in records]
        planned = batch.lanes(items, Incoming.lane_key, self.max_lanes)
        outcomes = await asyncio.gather(
            *(self._run_lane(lane, started) for lane in planned), return_exceptions=True
        )
        metrics.BATCH_RECORDS.labels(self.service).observe(len(records))
        metrics.BATCH_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # stopping during an outage: nothing committed is lost

    async def _run_lane(self, lane: list[Incoming], started: float) -> None:
        for group in batch.chunks(lane, self.group_size):
            try:
                outcome = await retrying(
                    lambda group=group: self._attempt(group, alone=False),  # type: ignore[misc]
                    self.retry,
                    on_retry=self._note_retry(group[0].record),
                    stopping=self.stopping,
                )
            except PermanentFailure as exc:
                log.warning("group of %d failed as a whole (%s); one by one", len(group), exc)
                for item in group:
                    await self._alone(item)
                continue
            await self._settle(outcome)
            for item in outcome.deferred:
                await self._alone(item)
            # what each record waited in this service: from its batch's fetch to its commit
            waited = time.perf_counter() - started
            for item in group:
                metrics.HANDLING_SECONDS.labels(self.service, item.record.topic).observe(waited)

    async def _alone(self, item: Incoming) -> None:
        """One record in a transaction of its own, retried; dead-lettered if it never succeeds."""
        try:
            outcome = await retrying(
                lambda: self._attempt([item], alone=True),
                self.retry,
                on_retry=self._note_retry(item.record),
                stopping=self.stopping,
            )
        except PermanentFailure as exc:
            await self._fail_for_good(item, str(exc))
            return
        await self._settle(outcome)

    def _note_retry(self, record: Record) -> Callable[[BaseException, bool], None]:
        def note(exc: BaseException, transient: bool) -> None:
            kind = "transient" if transient else type(exc).__name__
            metrics.HANDLER_RETRIES.labels(self.service, record.topic, kind).inc()
            log.warning("retrying %s@%s: %s", record.topic, record.offset, failure_text(exc))

        return note

    def _context(self, session: AsyncSession, cause: CloudEvent | None) -> HandlerContext:
        limit = self.max_message_bytes
        return HandlerContext(session, cause, self.clock, self.signer, max_message_bytes=limit)

    def _prepare(self, record: Record) -> Incoming:
        """Decode and classify a record (no I/O): dead, ignored, an event to apply, a command."""
        size = len(record.value or b"")
        if size > self.max_message_bytes:
            # not parsed at all: a record this size is hostile or broken, and has no answer
            error = f"{size} bytes, over the suite's limit of {self.max_message_bytes}"
            return Incoming(record, dead=("too_large", error))
        if record.value is None and record.topic in self._tombstone_handlers:
            owner = self._tombstone_handlers[record.topic][0]
            try:
                found = read_tombstone(
                    record.topic, record.key, record.headers, self.keyring, owner
                )
            except EnvelopeError as exc:
                return Incoming(record, dead=(exc.reason, str(exc)))
            return Incoming(record, tombstone=found)
        try:
            event, document = read(record.value)
        except EnvelopeError as exc:
            return Incoming(record, dead=(exc.reason, str(exc)))
        spec = registry.spec(event.type)
        if spec is None or spec.topic != record.topic:
            return Incoming(
                record,
                event,
                dead=("unknown_type", f"{event.type!r} is not a message of {record.topic}"),
                rejection=(
                    (ReasonCode.MALFORMED, f"unknown command type {event.type!r}")
                    if record.topic in COMMAND_TOPICS
                    else None
                ),
            )
        if spec.kind == "command":
            if (old := self._too_old(event)) is not None:
                return Incoming(record, event, dead=old, rejection=old)
            return Incoming(record, event, spec)
        if event.type not in self._event_handlers:
            return Incoming(record, event, spec, ignored=True)
        forged = provenance(event, document, spec, self.keyring)
        if forged is not None:
            return Incoming(record, event, dead=forged)
        if (old := self._too_old(event)) is not None:  # its `time` is the producer's, signed
            return Incoming(record, event, dead=old)
        try:
            message = spec.model.model_validate(event.data)
        except ValidationError as exc:
            return Incoming(record, event, dead=("invalid_data", describe(exc)))
        return Incoming(record, event, spec, message=message)

    def _too_old(self, event: CloudEvent) -> tuple[str, str] | None:
        """A record past `max_record_age` (the inbox may have forgotten it: `inbox.prune`)."""
        age = self.clock.now() - event.time
        if age <= self.max_record_age:
            return None
        return (
            "too_old",
            f"sent {age.days} days ago, over the {self.max_record_age.days}-day limit",
        )

    async def _attempt(self, group: list[Incoming], *, alone: bool) -> Outcome:
        """One transaction over `group`. With `alone`, a handler's error aborts it (to be retried);
        else the record is rolled back to its savepoint and deferred with its key's later ones."""
        async with self.db.transaction() as session:
            claims = [(i.event, i.record.topic) for i in group if i.claimable and i.event]
            run = GroupRun(*await inbox.claim_many(session, claims))
            for item in group:
                await self._step(item, session, run, alone=alone)
            await inbox.release(session, run.released)
            await inbox.remember_results(session, run.remembered)
            await stage(session, run.outcome.staged, limit=self.max_message_bytes)
        return run.outcome

    async def _step(
        self, item: Incoming, session: AsyncSession, run: GroupRun, *, alone: bool
    ) -> None:
        outcome = run.outcome
        if item.lane_key() in run.blocked:
            run.defer(item)
            return
        if item.dead is not None:
            outcome.dead.append(item)
            if item.rejection is not None and item.event is not None:
                refused = self._rejected(item.event, *item.rejection)
                outcome.answer(*self._answer(refused, item.event))
            return
        if item.tombstone is None and not self._claimed(item, run):
            return
        ctx = self._context(session, item.event)
        try:
            result = await self._handle(item, ctx)
        except Exception as exc:
            if alone:
                raise
            # a database error's traceback quotes the row (its DETAIL): only its safe text
            log.warning(
                "deferring %s@%s: %s",
                item.record.topic,
                item.record.offset,
                failure_text(exc),
                exc_info=not from_database(exc),
            )
            run.defer(item)
            return
        outcome.staged.extend(ctx.staged)
        outcome.committed.extend(ctx.committed)
        if item.event is None:
            return  # a tombstone: nothing to remember, deleting a key twice changes nothing
        event = item.event
        if result is not None and result.reason_code == ReasonCode.INVALID_TOKEN:
            # answered but not remembered, its claim released: a copy without a valid token
            # must not burn the id of the genuine command, and a redelivery is verified again
            run.released.append(event.id)
            outcome.answer(*self._answer(result, event))
            return
        stored = result.model_dump(mode="json") if result else None
        run.decided[event.id] = inbox.Seen(inbox.fingerprint(event), stored)
        if result is not None and stored is not None:
            run.remembered.append((event.id, stored))
            outcome.answer(*self._answer(result, event))

    def _claimed(self, item: Incoming, run: GroupRun) -> bool:
        """Whether this transaction handles the record: its first copy, claimed in the inbox.
        A duplicate is counted (a command answered again); a record after a deferred copy or a
        released claim is deferred too."""
        if item.ignored or item.event is None or item.spec is None:
            return False
        event, outcome = item.event, run.outcome
        if event.id in run.released:  # its claim is given up in this transaction: after it
            run.defer(item)
            return False
        if event.id not in run.fresh or event.id in run.decided:
            seen = run.decided.get(event.id) or run.stored.get(event.id)
            if seen is None:  # its first copy in this group was deferred
                run.defer(item)
                return False
            metrics.INBOX_DUPLICATES.labels(self.service, item.record.topic).inc()
            if item.spec.kind == "command":
                outcome.answer(*self._answer(self._replay(event, seen), event))
            return False
        return True

    async def _handle(self, item: Incoming, ctx: HandlerContext) -> CommandResult | None:
        """Run the record's handler in the open transaction; a command gets its result. A
        tombstone needs no inbox claim: its time decides against details published later."""
        if item.tombstone is not None:
            async with ctx.session.begin_nested():
                await self._tombstone_handlers[item.tombstone.topic][1](item.tombstone, ctx)
            return None
        assert item.event is not None and item.spec is not None
        if item.spec.kind == "command":
            return await self._decide(item.event, item.spec, ctx)
        async with ctx.session.begin_nested():
            await self._event_handlers[item.event.type](item.message, ctx)
        return None

    async def _settle(self, outcome: Outcome) -> None:
        """After a commit: metrics, callbacks, wake the relay, then the dead letters."""
        for callback in outcome.committed:
            callback()
        for result in outcome.results:
            metrics.COMMAND_RESULTS.labels(
                self.service, result.command_type, result.status, result.reason_code or ""
            ).inc()
        if outcome.staged:
            self.on_commit()
        for item in outcome.dead:
            reason, error = item.dead or ("", "")
            await retrying(
                lambda item=item, reason=reason, error=error: self._dead_letter(  # type: ignore[misc]
                    item.record, reason, error
                ),
                self.retry,
                on_retry=self._note_retry(item.record),
                stopping=self.stopping,
            )

    async def _fail_for_good(self, item: Incoming, error: str) -> None:
        """Dead-letter a record whose handling kept failing; a command is answered
        `internal_error` (once: the answer is remembered, so a redelivery replays it). Never
        raises but to stop: when even the answer cannot be stored, the record is dead-lettered
        unanswered."""
        record = item.record
        log.error("dead-lettering %s@%s after failures: %s", record.topic, record.offset, error)
        outcome = Outcome(dead=[item.failed(error)])
        event = item.event
        if event is not None and item.spec is not None and item.spec.kind == "command":

            async def answer() -> None:
                async with self.db.transaction() as session:
                    fresh, _ = await inbox.claim_many(session, [(event, item.record.topic)])
                    if event.id in fresh:
                        result = self._rejected(
                            event, ReasonCode.INTERNAL_ERROR, "the command could not be handled"
                        )
                        await inbox.remember_results(
                            session, [(event.id, result.model_dump(mode="json"))]
                        )
                        outcome.answer(*self._answer(result, event))
                        await stage(session, outcome.staged)

            try:
                await retrying(
                    answer,
                    self.retry,
                    on_retry=self._note_retry(item.record),
                    stopping=self.stopping,
                )
            except PermanentFailure as exc:
                # never let this leave: the batch would be fetched again, forever, and every
                # record behind it on its partition would wait; the dead letter says what it was
                log.error("could not answer %s internal_error: %s", event.id[:80], exc)
                outcome = Outcome(dead=[item.failed(error)])
        await self._settle(outcome)

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

    def _rejected(self, event: CloudEvent, reason: str, message: str) -> CommandResult:
        return CommandResult(
            command_id=event.id,
            command_type=event.type,
            status="rejected",
            reason_code=str(reason)[:64],
            message=shorten(message, MAX_REFUSAL_TEXT),
            aggregate_id=_named_aggregate(event),
        )

    def _answer(self, result: CommandResult, cause: CloudEvent) -> tuple[CommandResult, Outgoing]:
        kind = result_type(self.context)
        return result, outgoing(result, signer=self.signer, cause=cause, type_=kind)

    async def _dead_letter(self, record: Record, reason: str, error: str) -> None:
        await dead_letter(
            self.send,
            record,
            reason,
            error,
            service=self.service,
            prefix=self.topic_prefix,
            max_value=self.max_message_bytes,
        )
        metrics.DEAD_LETTERED.labels(self.service, record.topic, reason).inc()
        log.warning("dead-lettered %s@%s (%s): %s", record.topic, record.offset, reason, error)


@dataclass
class Incoming:
    """One consumed record on its way through the runtime, as preparing it found it."""

    record: Record
    event: CloudEvent | None = None
    spec: MessageSpec | None = None
    #: the validated event model (events only; a command is validated after its claim)
    message: Any = None
    #: (reason, error) of a record that can never succeed: it is dead-lettered
    dead: tuple[str, str] | None = None
    #: a dead command that is also answered, rejected: (reason code, message) — an unknown type
    #: on a command topic (`malformed`), a command past the age limit (`too_old`)
    rejection: tuple[str, str] | None = None
    #: a type of this topic that this service does not act on
    ignored: bool = False
    #: a null-valued record on a compacted topic with a tombstone handler, signed
    tombstone: Tombstone | None = None

    def lane_key(self) -> object:
        """The order that must hold: one aggregate's records (keyless: one partition's)."""
        return self.record.key or (self.record.topic, self.record.partition)

    @property
    def claimable(self) -> bool:
        return self.dead is None and not self.ignored

    def failed(self, error: str) -> Incoming:
        return replace(self, dead=("handler_failed", error), rejection=None)


@dataclass
class Outcome:
    """What a committed transaction leaves to do: callbacks, metrics, dead letters, deferrals."""

    staged: list[Outgoing] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)
    results: list[CommandResult] = field(default_factory=list)
    dead: list[Incoming] = field(default_factory=list)
    deferred: list[Incoming] = field(default_factory=list)

    def answer(self, result: CommandResult, message: Outgoing) -> None:
        self.results.append(result)
        self.staged.append(message)


@dataclass
class GroupRun:
    """The bookkeeping of one group transaction while its records are handled in order."""

    #: ids this transaction claimed in the inbox
    fresh: set[str]
    #: what the inbox already held for the other ids (redeliveries)
    stored: dict[str, inbox.Seen]
    outcome: Outcome = field(default_factory=Outcome)
    #: ids handled in this transaction, with what a later copy in it must replay
    decided: dict[str, inbox.Seen] = field(default_factory=dict)
    #: keys with a deferred record: their later records wait for it
    blocked: set[object] = field(default_factory=set)
    #: claims to forget: their records were rolled back and deferred, or refused `invalid_token`
    released: list[str] = field(default_factory=list)
    remembered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def defer(self, item: Incoming) -> None:
        """Leave `item` to be handled after this transaction, and its key's later records too.

        A claim this transaction made for it is released, or it would commit without its
        effect and the later handling would take the record for a duplicate."""
        self.outcome.deferred.append(item)
        self.blocked.add(item.lane_key())
        message_id = item.event.id if item.event else None
        if (
            message_id in self.fresh
            and message_id not in self.decided
            and message_id not in self.released
        ):
            self.released.append(message_id)


#: the longest aggregate id a result carries (an `Identifier`'s bound): a longer one is not
#: echoed back
MAX_AGGREGATE_ID = 128


def _named_aggregate(event: CloudEvent) -> str | None:
    """The aggregate a command names in its data (even one refused as malformed), if it names
    one a result may carry: a non-blank string within `MAX_AGGREGATE_ID`."""
    found = registry.spec(event.type)
    if found is None or not issubclass(found.model, Command):
        return None
    field = found.model.aggregate_field()
    value = event.data.get(field) if field else None
    if isinstance(value, str) and value.strip() and len(value) <= MAX_AGGREGATE_ID:
        return value.strip()
    return None


def _reason_of(exc: ValidationError) -> ReasonCode:
    """An amount out of bounds is `invalid_amount`; any other invalid field is `malformed`."""
    fields = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    if fields and all("amount" in name for name in fields):
        return ReasonCode.INVALID_AMOUNT
    return ReasonCode.MALFORMED
