"""One handler's unit of work: the repository, the settings, the clock, and saving with events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.contract.base import Actor as WireActor
from shared.loops import Alarm
from shared.messaging.runtime import HandlerContext

from escrow import domain, metrics
from escrow.adapters import wire
from escrow.adapters.repository import EscrowRepository


@dataclass(frozen=True)
class Rules:
    """The deployment's money and time rules."""

    fees: Mapping[str, domain.FeePolicy]
    timers: domain.TimerPolicy

    @property
    def currencies(self) -> list[str]:
        return sorted(self.fees)


class EscrowUnit:
    def __init__(self, ctx: HandlerContext, rules: Rules, timers: Alarm | None = None) -> None:
        self.ctx = ctx
        self.rules = rules
        #: the timer loop's alarm, rung when a saved escrow has a timer due sooner than it knows
        self.timers = timers or Alarm()
        self.repo = EscrowRepository(ctx.session)

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    async def escrow(self, escrow_id: str) -> domain.Escrow:
        found = await self.repo.get(escrow_id)
        if found is None:
            raise domain.NotFound(f"escrow {escrow_id} does not exist")
        return found

    async def save(self, escrow: domain.Escrow, by: WireActor | None = None) -> None:
        """Persist the escrow and publish what happened to it, once the transaction commits."""
        was = self.repo.loaded_state(escrow.escrow_id)
        due = await self.repo.save(
            escrow, self.rules.timers, by.model_dump(mode="json") if by else None
        )
        events = list(escrow.events)
        escrow.events.clear()
        for happened in events:
            self.ctx.emit(wire.event(happened))

        def committed() -> None:
            count(events, was)
            self.timers.ring_at(due)

        self.ctx.after_commit(committed)


def count(events: list[domain.EscrowEvent], was: str | None) -> None:
    for happened in events:
        now_in = happened.escrow.state.value
        if was is not None and was != now_in:
            metrics.TRANSITIONS.labels(was, now_in).inc()
        was = now_in
        currency = happened.escrow.currency
        if isinstance(happened, domain.EscrowReleased):
            metrics.RELEASES.labels(currency).inc()
            metrics.RELEASED_AMOUNT.labels(currency).inc(happened.gross)
        elif isinstance(happened, domain.EscrowRefunded):
            metrics.REFUNDS.labels(currency).inc()
            metrics.REFUNDED_AMOUNT.labels(currency).inc(happened.amount)
