"""One handler's unit of work: the repository, the settings, the clock, and saving with events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.contract.base import Actor as WireActor
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
    def __init__(self, ctx: HandlerContext, rules: Rules) -> None:
        self.ctx = ctx
        self.rules = rules
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
        await self.repo.save(escrow, self.rules.timers, by.model_dump(mode="json") if by else None)
        events = list(escrow.events)
        escrow.events.clear()
        for happened in events:
            self.ctx.emit(wire.event(happened))
        self.ctx.after_commit(lambda: count(events, was))


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
