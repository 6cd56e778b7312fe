"""Transactional outbox: messages are written with the state change and published after commit.

The relay publishes unpublished rows in id order and then marks them; if it dies after publishing
and before the mark, the rows go out again (a duplicate the consumer's inbox absorbs), never lost.
One relay per database publishes at a time: the leader, which holds a session advisory lock on a
connection of its own and runs its statements in autocommit, so no transaction stays open while
it talks to the broker. It wakes when its own process commits (`nudge`), when another replica
commits (LISTEN/NOTIFY), or after `poll_interval` at the latest.

Per-key order holds even when a send fails part-way: a key's next row is sent only once the
broker has acknowledged its previous one, so a failed row is never overtaken by a later row of
its key; the rows that were acknowledged are marked, the others are sent again in order.

A row the broker can never take (too large, an invalid topic: `retry.is_unsendable`) is
quarantined: marked with the reason (`quarantined_at`, `failure`), counted
(`escrow_suite_outbox_quarantined_total`, alerted on) and left for an operator, and the relay
carries on with the rows behind it, its key's included. Before, such a row was sent again forever
and nothing behind it left the service. `stage` refuses a message over the size limit, so only
a broker with a lower limit than the suite's can still cause one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared import metrics
from shared.contract.envelope import CONTENT_TYPE, CloudEvent
from shared.contract.registry import on_wire
from shared.db import Database
from shared.messaging import inbox
from shared.messaging.retry import is_unsendable
from shared.messaging.tables import outbox

log = logging.getLogger(__name__)

#: the advisory lock of the publishing relay, in the two-int keyspace (apart from any bigint one)
RELAY_LOCK = (0x0E5C_0B0C, 1)
#: LISTEN/NOTIFY channel: a transaction that staged messages wakes the leader of its database
CHANNEL = "escrow_suite_outbox"
#: how long `stop` lets a batch being published finish
STOP_WAIT_S = 5.0

#: the default of `MAX_MESSAGE_BYTES`: the largest record value the suite consumes or produces
MAX_MESSAGE_BYTES = 512 * 1024
#: inbox rows forgotten per housekeeping round (one every 5 s)
PRUNE_BATCH = 5_000
#: how much of a send's error a quarantined row keeps
MAX_FAILURE_TEXT = 2000

#: sends one record; returns when the broker has acknowledged it
Send = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[object]]


class MessageTooLarge(ValueError):
    """An outgoing message over the suite's size limit: a bug or hostile input upstream; the
    transaction that wanted to publish it must fail rather than leave an unpublishable row."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the outbox: its envelope, logical topic and Kafka key."""

    event: CloudEvent
    topic: str
    key: str

    @cached_property
    def payload(self) -> bytes:
        """The envelope's bytes, encoded once (checked at `emit`, written at `stage`)."""
        return self.event.encode()


def check_size(message: Outgoing, limit: int) -> None:
    if len(message.payload) > limit:
        raise MessageTooLarge(
            f"{message.event.type} {message.event.id} is {len(message.payload)} bytes, "
            f"over the limit of {limit}"
        )


async def stage(
    session: AsyncSession, messages: Iterable[Outgoing], *, limit: int = MAX_MESSAGE_BYTES
) -> int:
    """Write messages in the caller's transaction; they are published only if it commits."""
    rows = []
    for m in messages:
        check_size(m, limit)
        rows.append(
            {
                "message_id": m.event.id,
                "topic": m.topic,
                "key": m.key,
                "type": m.event.type,
                "payload": m.payload,
            }
        )
    if rows:
        await session.execute(_INSERT, rows)
        await session.execute(_NOTIFY)
    return len(rows)


# Built once: building a statement costs more CPU than executing a cached one.
_INSERT = sa.insert(outbox)
_NOTIFY = sa.select(sa.func.pg_notify(CHANNEL, ""))
_UNPUBLISHED = (
    sa.select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload)
    .where(outbox.c.published_at.is_(None), outbox.c.quarantined_at.is_(None))
    .order_by(outbox.c.id)
    .limit(sa.bindparam("batch_size"))
)
_QUARANTINE = (
    sa.update(outbox)
    .where(outbox.c.id == sa.bindparam("row_id"))
    .values(quarantined_at=sa.func.now(), failure=sa.bindparam("failure"))
)
_MARK = (
    sa.update(outbox)
    .where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(published_at=sa.func.now())
)


class OutboxRelay:
    """Publishes committed outbox rows; `nudge()` after a commit makes it look at once."""

    def __init__(
        self,
        db: Database,
        send: Send,
        *,
        service: str,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=7),
        inbox_retention: timedelta = timedelta(seconds=inbox.INBOX_RETENTION_S),
    ) -> None:
        self.db = db
        self.send = send
        self.service = service
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.inbox_retention = inbox_retention
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._leader: AsyncConnection | None = None

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        """Stop polling, then publish whatever is still committed and unpublished.

        A batch being published is let finish (for `STOP_WAIT_S` at most): cancelling it between
        the broker's acknowledgement and the mark would only send it again."""
        if self._task:
            self._stopping.set()
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_WAIT_S)
            except TimeoutError:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()
        await self._resign()

    async def flush(self, attempts: int = 3) -> None:
        for _ in range(attempts):
            try:
                while await self.publish_batch():
                    pass
                return
            except Exception:
                log.exception("outbox flush failed")
                await asyncio.sleep(self.poll_interval)

    async def _run(self) -> None:
        housekeeping_due = 0.0
        while not self._stopping.is_set():
            try:
                published = await self.publish_batch()
                if asyncio.get_running_loop().time() >= housekeeping_due:
                    await self.housekeeping()
                    housekeeping_due = asyncio.get_running_loop().time() + 5
            except Exception:
                metrics.OUTBOX_PUBLISH_ERRORS.labels(self.service).inc()
                log.warning("outbox relay could not publish; will retry", exc_info=True)
                published = 0
                await asyncio.sleep(self.poll_interval)
            if published < self.batch_size:
                await self._sleep()

    async def _sleep(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        except TimeoutError:
            pass
        self._wake.clear()

    async def publish_batch(self) -> int:
        """Publish up to one batch if this relay leads; returns how many rows were marked."""
        try:
            leader = await self._lead()
            if leader is None:
                return 0
            rows = (await leader.execute(_UNPUBLISHED, {"batch_size": self.batch_size})).all()
            if not rows:
                return 0
            sent, failed, unsendable = await self._send_in_key_order(rows)
            if sent:
                await leader.execute(_MARK, {"ids": [row.id for row in sent]})
            if unsendable:
                await leader.execute(
                    _QUARANTINE,
                    [{"row_id": row.id, "failure": why} for row, why in unsendable],
                )
        except BaseException:
            await self._resign()  # a broken or abandoned connection must not keep the lock
            raise
        for row, why in unsendable:
            metrics.OUTBOX_QUARANTINED.labels(self.service, row.topic).inc()
            log.error("outbox row %s (%s) quarantined: %s", row.id, row.topic, why)
        for row in sent:
            metrics.OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        if failed:
            metrics.OUTBOX_PUBLISH_ERRORS.labels(self.service).inc()
            raise failed[0]
        return len(sent) + len(unsendable)

    async def _lead(self) -> AsyncConnection | None:
        """The leader's connection, taking the lead if nobody holds it; None if another does."""
        if self._leader is not None:
            return self._leader
        connection = await self.db.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            got = await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(*RELAY_LOCK)))
            if not got:
                await connection.close()
                return None
            raw = await connection.get_raw_connection()
            assert raw.driver_connection is not None
            await raw.driver_connection.add_listener(CHANNEL, self._notified)
        except BaseException:
            await connection.invalidate()
            await connection.close()
            raise
        self._leader = connection
        log.info("%s outbox relay leads", self.service)
        return connection

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _resign(self) -> None:
        """Give up the lead: the connection is discarded, which releases the lock with it."""
        leader, self._leader = self._leader, None
        if leader is None:
            return
        with contextlib.suppress(Exception):
            await leader.invalidate()
        with contextlib.suppress(Exception):
            await leader.close()

    async def _send_in_key_order(
        self, rows: Sequence[Any]
    ) -> tuple[list[Any], list[Exception], list[tuple[Any, str]]]:
        """Send in rounds: round n sends every key's n-th row at once. A key whose row failed
        sends nothing more in this batch; a row the broker can never take does not stop its key.
        Returns the acknowledged rows, the errors, and the unsendable rows with their reason."""
        chains: dict[str, list[Any]] = {}
        for row in rows:
            chains.setdefault(row.key, []).append(row)
        headers, prefix = {"content-type": CONTENT_TYPE}, self.topic_prefix
        sent: list[Any] = []
        failed: list[Exception] = []
        unsendable: list[tuple[Any, str]] = []
        live = list(chains.values())
        depth = 0
        while live:
            this_round = [chain[depth] for chain in live]
            results = await asyncio.gather(
                *(
                    self.send(on_wire(row.topic, prefix), row.key.encode(), row.payload, headers)
                    for row in this_round
                ),
                return_exceptions=True,
            )
            still = []
            for chain, row, result in zip(live, this_round, results, strict=True):
                if isinstance(result, BaseException) and is_unsendable(result):
                    why = f"{type(result).__name__}: {result}"[:MAX_FAILURE_TEXT]
                    unsendable.append((row, why))
                elif isinstance(result, BaseException):
                    log.warning("publishing outbox row %s failed: %r", row.id, result)
                    failed.append(result if isinstance(result, Exception) else Exception(result))
                    continue
                else:
                    sent.append(row)
                if len(chain) > depth + 1:
                    still.append(chain)
            live = still
            depth += 1
        return sent, failed, unsendable

    async def housekeeping(self) -> None:
        """Refresh the backlog gauges, forget long-published rows and long-processed inbox
        rows (`PRUNE_BATCH` a round: a first round over a large inbox takes many)."""
        async with self.db.transaction() as session:
            backlog, oldest = (
                await session.execute(
                    sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                        outbox.c.published_at.is_(None), outbox.c.quarantined_at.is_(None)
                    )
                )
            ).one()
            quarantined = await session.scalar(
                sa.select(sa.func.count()).where(outbox.c.quarantined_at.is_not(None))
            )
            cutoff = datetime.now(UTC) - self.retention
            await session.execute(sa.delete(outbox).where(outbox.c.published_at < cutoff))
            before = datetime.now(UTC) - self.inbox_retention
            pruned = await inbox.prune(session, before, PRUNE_BATCH)
        metrics.INBOX_PRUNED.labels(self.service).inc(pruned)
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        metrics.OUTBOX_QUARANTINED_ROWS.labels(self.service).set(quarantined or 0)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(max(age, 0.0))
