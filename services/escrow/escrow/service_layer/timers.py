"""The system's timers (DESIGN.md §3): payment expiry, release reminders, optional auto-release.

Due times live in the `escrow_timers` table, so they survive restarts. Each timer is claimed,
fired and marked in one transaction (fire once); a timer whose moment has passed — the escrow was
paid, released, disputed meanwhile — is refused by the domain and only marked.
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared.loops import Alarm
from shared.messaging.runtime import Runtime

from escrow import domain, metrics
from escrow.adapters.repository import EscrowRepository
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


async def fire_next(runtime: Runtime, rules: Rules, alarm: Alarm) -> bool:
    """Fire the earliest due timer, if any; True if one was handled."""
    async with runtime.unit_of_work() as ctx:
        unit = EscrowUnit(ctx, rules, alarm)
        due = await unit.repo.due_timers(unit.now, limit=1)
        if not due:
            return False
        timer_id, escrow_id, kind = due[0]
        escrow = await unit.escrow(escrow_id)
        try:
            fire(escrow, kind, unit)
        except domain.EscrowRefusal:
            outcome = "stale"
        else:
            outcome = "fired"
            await unit.save(escrow)
        await unit.repo.mark_fired(timer_id, unit.now)
        ctx.after_commit(lambda: metrics.TIMERS_FIRED.labels(kind, outcome).inc())
    return True


async def timers_round(runtime: Runtime, rules: Rules, alarm: Alarm) -> datetime | None:
    """Fire every due timer; returns when the next one falls due."""
    while await fire_next(runtime, rules, alarm):
        pass
    async with runtime.db.transaction() as session:
        return await EscrowRepository(session).next_timer_due()
