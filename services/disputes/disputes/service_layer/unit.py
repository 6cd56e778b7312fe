"""One handler's unit of work: the repository, the deadline policy, the clock, saving."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.loops import Alarm
from shared.messaging.runtime import HandlerContext
from sqlalchemy.ext.asyncio import AsyncSession

from disputes import domain, metrics
from disputes.adapters import wire
from disputes.adapters.repository import DisputeRepository
from disputes.domain import events as facts


class DisputeUnit:
    def __init__(
        self, ctx: HandlerContext, policy: domain.DeadlinePolicy, deadlines: Alarm | None = None
    ) -> None:
        self.ctx = ctx
        self.policy = policy
        #: the deadline loop's alarm, rung when a saved dispute has a deadline due sooner
        self.deadlines = deadlines or Alarm()
        self.repo = DisputeRepository(ctx.session)

    @property
    def session(self) -> AsyncSession:
        return self.ctx.session

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    async def dispute(self, dispute_id: str) -> domain.Dispute:
        found = await self.repo.get(dispute_id)
        if found is None:
            raise domain.NotFound(f"dispute {dispute_id} does not exist")
        return found

    async def save(self, dispute: domain.Dispute, **extra: Any) -> None:
        """Persist the dispute and publish what happened to it, once the transaction commits.

        `extra` is what the wire events need beyond the domain's (see `wire.event`).
        """
        due = await self.repo.save(dispute, self.policy)
        happened = list(dispute.events)
        dispute.events.clear()
        for event in happened:
            outgoing = wire.event(event, dispute, **extra)
            if outgoing is not None:
                self.ctx.emit(outgoing)

        def committed() -> None:
            count(happened, dispute)
            self.deadlines.ring_at(due)

        self.ctx.after_commit(committed)


def count(happened: list[facts.DisputeEvent], dispute: domain.Dispute) -> None:
    for event in happened:
        if isinstance(event, facts.VerdictIssued):
            opened_at = dispute.timeline.entries[0].at
            metrics.observe_verdict(opened_at, event.at, event.contractor_amount, dispute.held)
        elif isinstance(event, facts.DeadlineMissed):
            metrics.DEADLINES_MISSED.labels(event.timer).inc()
