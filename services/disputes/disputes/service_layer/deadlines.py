"""The dispute deadlines (DESIGN §5): respondent reminder and deadline, negotiation window,
arbitration SLA reminder.

Due times live in the `dispute_timers` table, so they survive restarts. Timers are claimed in
batches and each is marked and fired in its own transaction (fire once), its dispute locked
before its timer row as every command locks them; one that no longer applies — the respondent
answered, the dispute moved on — is only marked. One that raises is retried later and parked
after `DISPUTE_TIMER_MAX_ATTEMPTS` (`shared.timers`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from shared.loops import Alarm
from shared.messaging.runtime import Runtime
from shared.timers import Claimed, TimerRetry, fire_due

from disputes import domain, metrics
from disputes.adapters.queries import count_by_state
from disputes.adapters.repository import TIMERS, DisputeRepository
from disputes.service_layer.unit import DisputeUnit

log = logging.getLogger(__name__)


async def fire_claimed(
    runtime: Runtime, policy: domain.DeadlinePolicy, alarm: Alarm, timer: Claimed
) -> None:
    """Fire one claimed timer in its own transaction: the dispute locked first, then the timer."""
    async with runtime.unit_of_work() as ctx:
        unit = DisputeUnit(ctx, policy, alarm)
        dispute = await unit.dispute(timer.owner)
        if not await unit.repo.lock_pending_timer(timer.id):
            return  # a command replaced it, or another replica fired it, meanwhile
        # Marked before the save, which replaces only the dispute's unfired timers.
        await unit.repo.mark_fired(timer, unit.now)
        try:
            fired = dispute.fire(timer.kind, policy, unit.now)
        except domain.DisputeRefusal:
            fired = False  # the settings moved it later; the save below reschedules it
        if fired:
            await unit.save(dispute)
        else:
            rescheduled = await unit.repo.reset_timers(dispute, policy)
            ctx.after_commit(lambda: alarm.ring_at(rescheduled))


async def refresh_gauge(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        metrics.set_counts(await count_by_state(session))


async def deadlines_round(
    runtime: Runtime,
    policy: domain.DeadlinePolicy,
    alarm: Alarm,
    retry: TimerRetry | None = None,
) -> datetime | None:
    """Fire every due deadline; returns when the next one falls due."""
    await fire_due(
        runtime.db,
        TIMERS,
        runtime.clock.now,
        retry or TimerRetry(),
        partial(fire_claimed, runtime, policy, alarm),
        service=runtime.service,
    )
    async with runtime.db.transaction() as session:
        return await DisputeRepository(session).next_timer_due()
