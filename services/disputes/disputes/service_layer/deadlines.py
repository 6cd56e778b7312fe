"""The dispute deadlines (DESIGN §5): respondent reminder and deadline, negotiation window,
arbitration SLA reminder.

Due times live in the `dispute_timers` table, so they survive restarts. Each timer is claimed,
marked and fired in one transaction (fire once); one that no longer applies — the respondent
answered, the dispute moved on — is only marked.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared.loops import Alarm
from shared.messaging.runtime import Runtime

from disputes import domain, metrics
from disputes.adapters.queries import count_by_state
from disputes.adapters.repository import DisputeRepository
from disputes.service_layer.unit import DisputeUnit

log = logging.getLogger(__name__)


async def fire_next(runtime: Runtime, policy: domain.DeadlinePolicy, alarm: Alarm) -> bool:
    """Fire the earliest due timer, if any; True if one was handled."""
    async with runtime.unit_of_work() as ctx:
        unit = DisputeUnit(ctx, policy, alarm)
        due = await unit.repo.due_timers(unit.now, limit=1)
        if not due:
            return False
        timer_id, dispute_id, kind = due[0]
        # Marked before the save, which replaces only the dispute's unfired timers.
        await unit.repo.mark_fired(timer_id, unit.now)
        dispute = await unit.dispute(dispute_id)
        try:
            fired = dispute.fire(kind, policy, unit.now)
        except domain.DisputeRefusal:
            fired = False  # the settings moved it later; the save below reschedules it
        if fired:
            await unit.save(dispute)
        else:
            rescheduled = await unit.repo.reset_timers(dispute, policy)
            ctx.after_commit(lambda: alarm.ring_at(rescheduled))
    return True


async def refresh_gauge(runtime: Runtime) -> None:
    async with runtime.db.transaction() as session:
        metrics.set_counts(await count_by_state(session))


async def deadlines_round(
    runtime: Runtime, policy: domain.DeadlinePolicy, alarm: Alarm
) -> datetime | None:
    """Fire every due deadline; returns when the next one falls due."""
    while await fire_next(runtime, policy, alarm):
        pass
    async with runtime.db.transaction() as session:
        return await DisputeRepository(session).next_timer_due()
