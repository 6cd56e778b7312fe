"""Loads and saves disputes (as snapshots) and their due deadlines.

A snapshot holds what the parties wrote (statements, evidence, proposals): it is kept sealed at
rest (`shared.sealing`), bound to its dispute, in the JSONB column as one JSON string. The
columns searched by (ids, state, amounts) stay in the clear.

Every load for a change takes the row lock (`FOR UPDATE`), so two handlers acting on one dispute
(a party's statement and a deadline firing) run one after the other.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from shared.sealing import ring_of
from shared.timers import Claimed, TimerTable
from sqlalchemy.ext.asyncio import AsyncSession

from disputes import domain
from disputes.adapters.tables import dispute_timers, disputes
from disputes.domain.states import OPEN_STATES

#: the disputes' deadlines, claimed and parked as every service's timers are
TIMERS = TimerTable(dispute_timers, "dispute_id")


class DisputeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded_versions: dict[str, int] = {}

    async def get(self, dispute_id: str, *, lock: bool = True) -> domain.Dispute | None:
        query = sa.select(disputes.c.snapshot).where(disputes.c.dispute_id == dispute_id)
        snapshot = await self.session.scalar(query.with_for_update() if lock else query)
        return self._loaded(dispute_id, snapshot) if snapshot is not None else None

    async def open_on_escrow(self, escrow_id: str) -> list[domain.Dispute]:
        """The escrow's open disputes (at most one, by the partial unique index)."""
        rows = await self.session.execute(
            sa.select(disputes.c.dispute_id, disputes.c.snapshot)
            .where(disputes.c.escrow_id == escrow_id, disputes.c.state.in_(sorted(OPEN_STATES)))
            .with_for_update()
        )
        return [self._loaded(dispute_id, snapshot) for dispute_id, snapshot in rows]

    def _loaded(self, dispute_id: str, stored: str | dict[str, Any]) -> domain.Dispute:
        dispute = domain.Dispute.from_snapshot(opened(self.session, dispute_id, stored))
        self._loaded_versions[dispute.dispute_id] = dispute.version
        return dispute

    async def save(self, dispute: domain.Dispute, policy: domain.DeadlinePolicy) -> datetime | None:
        """Persist the dispute and replace its due timers with what it now waits on; returns
        when the earliest of those falls due."""
        before = self._loaded_versions.get(dispute.dispute_id)
        if before == dispute.version:
            return None
        values = _row(dispute)
        values["snapshot"] = sealed(self.session, dispute.dispute_id, values["snapshot"])
        if before is None:
            await self.session.execute(sa.insert(disputes).values(**values))
        else:
            await self.session.execute(
                sa.update(disputes)
                .where(disputes.c.dispute_id == dispute.dispute_id)
                .values(**values)
            )
        self._loaded_versions[dispute.dispute_id] = dispute.version
        return await self.reset_timers(dispute, policy)

    async def reset_timers(
        self, dispute: domain.Dispute, policy: domain.DeadlinePolicy
    ) -> datetime | None:
        # What is due follows from the dispute as it now stands; fired rows stay as history,
        # parked ones for an operator.
        await self.session.execute(
            sa.delete(dispute_timers).where(
                dispute_timers.c.dispute_id == dispute.dispute_id, TIMERS.pending
            )
        )
        timers = dispute.timers(policy)
        if timers:
            await self.session.execute(
                sa.insert(dispute_timers),
                [
                    {"dispute_id": dispute.dispute_id, "kind": t.kind, "due_at": t.due_at}
                    for t in timers
                ],
            )
        return min((t.due_at for t in timers), default=None)

    async def lock_pending_timer(self, timer_id: int) -> bool:
        """Lock a claimed timer, its dispute already locked: False if fired, replaced or parked
        meanwhile (see `shared.timers` for the lock order)."""
        return await TIMERS.lock_pending(self.session, timer_id)

    async def mark_fired(self, timer: Claimed, now: datetime) -> None:
        await self.session.execute(TIMERS.fired(timer, now))

    async def next_timer_due(self) -> datetime | None:
        """When the earliest timer still to fire falls due (read from the partial index)."""
        return await TIMERS.next_due(self.session)


def _row(dispute: domain.Dispute) -> dict[str, Any]:
    entries = dispute.timeline.entries
    return {
        "dispute_id": dispute.dispute_id,
        "escrow_id": dispute.escrow_id,
        "employer_id": dispute.employer_id,
        "contractor_id": dispute.contractor_id,
        "arbiter_id": dispute.arbiter_id,
        "state": dispute.state,
        "currency": dispute.currency,
        "held_amount": dispute.held_amount,
        "opened_at": entries[0].at,
        "updated_at": entries[-1].at,
        "version": dispute.version,
        "snapshot": dispute.snapshot(),
    }


def _context(dispute_id: str) -> str:
    """What a dispute's snapshot is sealed to: its column and its dispute."""
    return f"disputes.snapshot:{dispute_id}"


def sealed(session: AsyncSession, dispute_id: str, snapshot: dict[str, Any]) -> str:
    """The snapshot as it is stored: its JSON text, sealed."""
    text: str = ring_of(session).seal(json.dumps(snapshot), _context(dispute_id))
    return text


def opened(session: AsyncSession, dispute_id: str, stored: str | dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot opened; one written before sealing (a JSON object) is read as it is."""
    if isinstance(stored, dict):
        return stored
    found: dict[str, Any] = json.loads(ring_of(session).open(stored, _context(dispute_id)))
    return found
