"""Due timers kept in a service's table (escrow's timers, disputes' deadlines): claimed in
batches, fired one per transaction, retried with backoff, parked after too many failures.

Lock order: a timer is fired in a transaction that locks its aggregate (the escrow, the dispute)
first and its timer row after, the order every command keeps (it locks the aggregate, then
replaces the aggregate's timers). The claim locks timer rows alone, but `SKIP LOCKED`: it never
waits, so it can never close a cycle; it commits at once, counting the attempt and moving the
timer's `due_at` to when it is retried, which also keeps other replicas off it meanwhile.

A timer whose firing raises keeps that later `due_at` and the error (`last_error`); after
`max_attempts` it is parked (`parked_at`), counted (`escrow_suite_timers_parked_total`) and never
claimed again, so one timer that always fails cannot hold back the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.metrics import TIMERS_PARKED, TIMERS_PARKED_ROWS

log = logging.getLogger(__name__)

#: timers claimed at once (each still fired in its own transaction)
BATCH = 50
#: the longest `last_error` kept: the error's type and first line, never its SQL or parameters
ERROR_CHARS = 300


@dataclass(frozen=True)
class TimerRetry:
    """How a failing timer is retried: after `initial`, doubling up to `longest`, parked after
    `max_attempts` attempts."""

    max_attempts: int = 10
    initial: timedelta = timedelta(seconds=5)
    longest: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial <= timedelta(0) or self.longest < self.initial:
            raise ValueError("timer retries need max_attempts >= 1 and 0 < initial <= longest")


@dataclass(frozen=True)
class Claimed:
    """A due timer claimed for firing: its row id, its aggregate's id, its kind, its attempt
    (1 for the first), and when it fell due."""

    id: int
    owner: str
    kind: str
    attempts: int
    due_at: datetime


class TimerTable:
    """The statements over one service's timer table; `owner` names its aggregate column."""

    def __init__(self, table: sa.Table, owner: str) -> None:
        self.table, self.c = table, table.c
        self.owner = table.c[owner]
        self.pending = sa.and_(self.c.fired_at.is_(None), self.c.parked_at.is_(None))

    async def claim(
        self, session: AsyncSession, now: datetime, retry: TimerRetry, limit: int = BATCH
    ) -> list[Claimed]:
        """Claim the earliest due timers, skipping rows another transaction holds."""
        due = (
            sa.select(self.c.id, self.c.due_at)
            .where(self.pending, self.c.due_at <= now)
            .order_by(self.c.due_at, self.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        backoff = sa.func.least(
            retry.initial.total_seconds() * sa.func.power(2, self.c.attempts),
            retry.longest.total_seconds(),
        )
        rows = await session.execute(
            sa.update(self.table)
            .where(self.c.id == due.c.id)
            .values(
                attempts=self.c.attempts + 1,
                due_at=sa.literal(now) + sa.func.make_interval(0, 0, 0, 0, 0, 0, backoff),
            )
            .returning(self.c.id, self.owner, self.c.kind, self.c.attempts, due.c.due_at)
        )
        found = [Claimed(*row) for row in rows]
        return sorted(found, key=lambda t: (t.due_at, t.id))

    def fired(self, timer: Claimed, now: datetime) -> sa.Update:
        """Mark a timer fired; it keeps the moment it was due (the claim moved it to its retry)."""
        return (
            sa.update(self.table)
            .where(self.c.id == timer.id)
            .values(fired_at=now, due_at=timer.due_at)
        )

    async def lock_pending(self, session: AsyncSession, timer_id: int) -> bool:
        """Lock a claimed timer (its aggregate already locked): False if it was fired, replaced
        or parked meanwhile."""
        found = await session.scalar(
            sa.select(self.c.id).where(self.c.id == timer_id, self.pending).with_for_update()
        )
        return found is not None

    async def failed(
        self,
        session: AsyncSession,
        timer: Claimed,
        error: BaseException,
        now: datetime,
        retry: TimerRetry,
    ) -> bool:
        """Keep why the timer failed; park it after its last attempt. True if parked."""
        park = timer.attempts >= retry.max_attempts
        row = await session.execute(
            sa.update(self.table)
            .where(self.c.id == timer.id, self.pending)
            .values(last_error=describe(error), parked_at=now if park else None)
            .returning(self.c.id)
        )
        return park and row.first() is not None

    async def parked(self, session: AsyncSession) -> int:
        """How many timers are parked (read from their partial index)."""
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(self.table).where(self.c.parked_at.isnot(None))
        )
        return int(count or 0)

    async def next_due(self, session: AsyncSession) -> datetime | None:
        """When the earliest timer still to fire falls due (read from the partial index)."""
        due: datetime | None = await session.scalar(
            sa.select(sa.func.min(self.c.due_at)).where(self.pending)
        )
        return due


def describe(error: BaseException) -> str:
    """The error as kept beside its timer: its type and the first line of its message (a
    database error's SQL and parameters follow on later lines), bounded."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:ERROR_CHARS]


async def fire_due(
    db: Database,
    timers: TimerTable,
    now: Callable[[], datetime],
    retry: TimerRetry,
    fire: Callable[[Claimed], Awaitable[None]],
    *,
    service: str,
) -> None:
    """Fire every due timer, batch after batch, each in its own transaction (`fire`); a failure
    is kept beside its timer and does not stop the rest."""
    while True:
        async with db.transaction() as session:
            claimed = await timers.claim(session, now(), retry)
            if not claimed:
                TIMERS_PARKED_ROWS.labels(service).set(await timers.parked(session))
        if not claimed:
            return
        for timer in claimed:
            try:
                await fire(timer)
            except Exception as error:
                await _failed(db, timers, timer, error, now(), retry, service)


async def _failed(
    db: Database,
    timers: TimerTable,
    timer: Claimed,
    error: Exception,
    now: datetime,
    retry: TimerRetry,
    service: str,
) -> None:
    async with db.transaction() as session:
        parked = await timers.failed(session, timer, error, now, retry)
    if parked:
        TIMERS_PARKED.labels(service, timer.kind).inc()
        log.error(
            "%s timer %s (%s of %s) parked after %d attempts: %s",
            service,
            timer.id,
            timer.kind,
            timer.owner,
            timer.attempts,
            describe(error),
        )
    else:
        log.warning(
            "%s timer %s (%s of %s) failed, attempt %d of %d",
            service,
            timer.id,
            timer.kind,
            timer.owner,
            timer.attempts,
            retry.max_attempts,
            exc_info=error,
        )


def add_timer_attempts(op: Any, table: str) -> None:
    """For a service's migration: the attempt count and the parking columns of its timers, and
    the partial index of the parked ones (`ix_<table>_parked`, as its `tables.py` declares)."""
    op.execute(
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS attempts INTEGER DEFAULT 0 NOT NULL, "
        "ADD COLUMN IF NOT EXISTS parked_at TIMESTAMP WITH TIME ZONE, "
        "ADD COLUMN IF NOT EXISTS last_error TEXT"
    )
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_{table}_parked ON {table} (id) WHERE parked_at IS NOT NULL"
    )


def drop_timer_attempts(op: Any, table: str) -> None:
    op.drop_index(f"ix_{table}_parked", table_name=table)
    for column in ("last_error", "parked_at", "attempts"):
        op.drop_column(table, column)
