"""The system's timers (DESIGN.md §3): payment expiry, release reminders, optional auto-release.

Due times live in the `escrow_timers` table, so they survive restarts. Timers are claimed in
batches and each is fired and marked in its own transaction (fire once), its escrow locked before
its timer row as every command locks them; a timer whose moment has passed — the escrow was paid,
released, disputed meanwhile — is refused by the domain and only marked. One that raises is
retried later and parked after `TIMER_MAX_ATTEMPTS` (`shared.timers`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from shared.loops import Alarm
from shared.messaging.runtime import Runtime
from shared.timers import Claimed, TimerRetry, fire_due

from escrow import domain, metrics
from escrow.adapters.repository import TIMERS, EscrowRepository
from escrow.service_layer.unit import EscrowUnit, Rules

log = logging.getLogger(__name__)


def fire(escrow: domain.Escrow, kind: str, unit: EscrowUnit) -> None:
    now, policy = unit.now, unit.rules.timers
    match domain.TimerKind(kind):
        case domain.TimerKind.PAYMENT_EXPIRY:
            escrow.expire_payment(now)
        case domain.TimerKind.RELEASE_REMINDER:
            escrow.remind_release(now, policy)
        case domain.TimerKind.AUTO_RELEASE:
            escrow.auto_release(now, unit.rules.fees, policy)


async def fire_claimed(runtime: Runtime, rules: Rules, alarm: Alarm, timer: Claimed) -> None:
    """Fire one claimed timer in its own transaction: the escrow locked first, then the timer."""
    async with runtime.unit_of_work() as ctx:
        unit = EscrowUnit(ctx, rules, alarm)
        escrow = await unit.escrow(timer.owner)
        if not await unit.repo.lock_pending_timer(timer.id):
            return  # a command replaced it, or another replica fired it, meanwhile
        try:
            fire(escrow, timer.kind, unit)
        except domain.EscrowRefusal:
            outcome = "stale"
        else:
            outcome = "fired"
            await unit.save(escrow)
        await unit.repo.mark_fired(timer, unit.now)
        ctx.after_commit(lambda: metrics.TIMERS_FIRED.labels(timer.kind, outcome).inc())


async def timers_round(
    runtime: Runtime, rules: Rules, alarm: Alarm, retry: TimerRetry | None = None
) -> datetime | None:
    """Fire every due timer; returns when the next one falls due."""
    await fire_due(
        runtime.db,
        TIMERS,
        runtime.clock.now,
        retry or TimerRetry(),
        partial(fire_claimed, runtime, rules, alarm),
        service=runtime.service,
    )
    async with runtime.db.transaction() as session:
        return await EscrowRepository(session).next_timer_due()
