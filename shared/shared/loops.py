"""Background loops (timers, deadlines, payout and refund workers, deliveries, gauges) that sleep
until their next work is due instead of polling the database.

A round does what is due and says when the next work falls due (`None`: nothing it knows of).
The loop sleeps until then, or until its `Alarm` rings: this process committed work that falls
due sooner (a new timer, a payout requested). It also looks after `max_idle` at the latest, for
work another replica committed and will not be around to do, or a clock moved by a test; that
safety round is the only idle query, one per `max_idle`.

Stopping (SIGTERM) wakes a sleeping loop and ends it between rounds: a round in progress is let
finish, so its work is committed (and then published by the relay's flush), not cut short. The
service bounds that wait (`Service.drain`), so a hung round cannot hold the exit forever.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from shared.clock import Clock

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
#: one round: does what is due now; returns when the next work falls due, if it knows
Round = Callable[[], Awaitable[datetime | None]]


class Alarm:
    """Wakes a sleeping loop when work committed in this process falls due before it means to
    wake: `ring()` for work due now, `ring_at(when)` for work due at `when`."""

    def __init__(self) -> None:
        self._ringing = asyncio.Event()
        #: when the loop means to wake; None while it runs a round (any ring counts then)
        self._wakes_at: datetime | None = None

    def ring(self) -> None:
        self._ringing.set()

    def ring_at(self, when: datetime | None) -> None:
        if when is not None and (self._wakes_at is None or when < self._wakes_at):
            self._ringing.set()

    async def sleep(
        self, seconds: float, wakes_at: datetime, stopping: asyncio.Event | None = None
    ) -> None:
        """Sleep `seconds` (meaning to wake at `wakes_at`) unless rung meanwhile or before, or
        `stopping` is set."""
        self._wakes_at = wakes_at
        waits = [asyncio.ensure_future(self._ringing.wait())]
        if stopping is not None:
            waits.append(asyncio.ensure_future(stopping.wait()))
        try:
            await asyncio.wait(waits, timeout=max(seconds, 0.0), return_when=FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self._wakes_at = None
            self._ringing.clear()


def scheduled(
    round_: Round,
    name: str,
    *,
    clock: Clock,
    max_idle: timedelta,
    alarm: Alarm | None = None,
    retry_after: timedelta = timedelta(seconds=1),
) -> BackgroundLoop:
    """A loop of `round_`, sleeping until the next due time, a ring, or `max_idle`; a failed
    round (the database may be away) is logged and tried again after `retry_after`. Once
    `stopping` is set it ends after the round in progress, if any."""
    alarm = alarm or Alarm()

    async def loop(stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            now = clock.now()
            try:
                due = await round_()
                wake = now + max_idle if due is None else min(due, now + max_idle)
            except Exception:
                log.exception("%s round failed", name)
                wake = now + min(retry_after, max_idle)
            await alarm.sleep((wake - clock.now()).total_seconds(), wake, stopping)

    loop.__name__ = loop.__qualname__ = name
    return loop


def every(
    round_: Callable[[], Awaitable[object]], interval: timedelta, name: str, *, clock: Clock
) -> BackgroundLoop:
    """A loop that runs `round_` once per `interval` (a gauge refreshed from the database)."""

    async def periodic() -> None:
        await round_()

    return scheduled(periodic, name, clock=clock, max_idle=interval, retry_after=interval)
