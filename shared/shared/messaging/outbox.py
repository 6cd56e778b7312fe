"""Transactional outbox: messages are written with the state change and published after commit.

The relay publishes unpublished rows in id order and marks them in the same transaction; if it
dies after publishing and before the mark commits, the rows go out again (a duplicate the
consumer's inbox absorbs), never lost. One relay per database publishes at a time (an advisory
lock), which keeps per-key order across replicas.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shared import metrics
from shared.contract.envelope import CONTENT_TYPE, CloudEvent
from shared.contract.registry import on_wire
from shared.db import Database
from shared.messaging.tables import outbox

log = logging.getLogger(__name__)

RELAY_LOCK = 0x0E5C_0B0C  # advisory lock key: one publishing relay per service database

#: sends one record; returns when the broker has acknowledged it
Send = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[object]]


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the outbox: its envelope, logical topic and Kafka key."""

    event: CloudEvent
    topic: str
    key: str


async def stage(session: AsyncSession, messages: Iterable[Outgoing]) -> int:
    """Write messages in the caller's transaction; they are published only if it commits."""
    rows = [
        {
            "message_id": m.event.id,
            "topic": m.topic,
            "key": m.key,
            "type": m.event.type,
            "payload": m.event.encode(),
        }
        for m in messages
    ]
    if rows:
        await session.execute(sa.insert(outbox), rows)
    return len(rows)


class OutboxRelay:
    """Publishes committed outbox rows; `nudge()` after a commit makes it look at once."""

    def __init__(
        self,
        db: Database,
        send: Send,
        *,
        service: str,
        topic_prefix: str = "",
        batch_size: int = 100,
        poll_interval: float = 0.25,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self.db = db
        self.send = send
        self.service = service
        self.topic_prefix = topic_prefix
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def nudge(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-outbox-relay")

    async def stop(self) -> None:
        """Stop polling, then publish whatever is still committed and unpublished."""
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

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
        while True:
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
        """Publish up to one batch; returns how many rows were marked published."""
        async with self.db.transaction() as session:
            if not await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(RELAY_LOCK))):
                return 0
            rows = (
                await session.execute(
                    sa.select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            if not rows:
                return 0
            sent = await self._send_in_order(rows)
            if sent:
                await session.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_([row.id for row in sent]))
                    .values(published_at=sa.func.now())
                )
        for row in sent:
            metrics.OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        return len(sent)

    async def _send_in_order(self, rows: Sequence[Any]) -> list[Any]:
        """Send all, then keep only the prefix that the broker acknowledged, in id order."""
        headers = {"content-type": CONTENT_TYPE}
        results = await asyncio.gather(
            *(
                self.send(
                    on_wire(row.topic, self.topic_prefix), row.key.encode(), row.payload, headers
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        sent = []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("publishing outbox row %s failed: %r", row.id, result)
                break
            sent.append(row)
        return sent

    async def housekeeping(self) -> None:
        """Refresh the backlog gauges and forget long-published rows."""
        async with self.db.transaction() as session:
            backlog, oldest = (
                await session.execute(
                    sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                        outbox.c.published_at.is_(None)
                    )
                )
            ).one()
            cutoff = datetime.now(UTC) - self.retention
            await session.execute(sa.delete(outbox).where(outbox.c.published_at < cutoff))
        metrics.OUTBOX_BACKLOG.labels(self.service).set(backlog)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(max(age, 0.0))
