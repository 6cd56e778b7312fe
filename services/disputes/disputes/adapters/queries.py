"""Read side: what the HTTP API and the metrics ask of the disputes database (no locks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from disputes.adapters.repository import opened
from disputes.adapters.tables import dispute_timers, disputes

SUMMARY = [
    disputes.c.dispute_id,
    disputes.c.escrow_id,
    disputes.c.employer_id,
    disputes.c.contractor_id,
    disputes.c.arbiter_id,
    disputes.c.state,
    disputes.c.currency,
    disputes.c.held_amount,
    disputes.c.opened_at,
    disputes.c.updated_at,
    disputes.c.version,
]


@dataclass(frozen=True)
class DisputeFilter:
    """Who asks for which disputes; every given field must match."""

    escrow_id: str | None = None
    party: str | None = None  # the employer's or the contractor's user id
    arbiter: str | None = None
    state: str | None = None
    limit: int = 100
    #: only disputes this user is a party to or the arbiter of (None: every dispute, for admins)
    visible_to: str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        found = []
        if self.escrow_id:
            found.append(disputes.c.escrow_id == self.escrow_id)
        if self.party:
            found.append(
                sa.or_(disputes.c.employer_id == self.party, disputes.c.contractor_id == self.party)
            )
        if self.arbiter:
            found.append(disputes.c.arbiter_id == self.arbiter)
        if self.state:
            found.append(disputes.c.state == self.state)
        if self.visible_to is not None:
            found.append(
                sa.or_(
                    disputes.c.employer_id == self.visible_to,
                    disputes.c.contractor_id == self.visible_to,
                    disputes.c.arbiter_id == self.visible_to,
                )
            )
        return found


async def dispute(session: AsyncSession, dispute_id: str) -> dict[str, Any] | None:
    """The whole dispute (statements, proposals, verdict, timeline) and its timers."""
    snapshot = await session.scalar(
        sa.select(disputes.c.snapshot).where(disputes.c.dispute_id == dispute_id)
    )
    if snapshot is None:
        return None
    timers = await session.execute(
        sa.select(dispute_timers.c.kind, dispute_timers.c.due_at, dispute_timers.c.fired_at)
        .where(dispute_timers.c.dispute_id == dispute_id)
        .order_by(dispute_timers.c.due_at, dispute_timers.c.id)
    )
    return {
        "dispute": opened(session, dispute_id, snapshot),
        "timers": [dict(row._mapping) for row in timers],
    }


async def summaries(session: AsyncSession, where: DisputeFilter) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.select(*SUMMARY)
        .where(*where.conditions())
        .order_by(disputes.c.opened_at, disputes.c.dispute_id)
        .limit(where.limit)
    )
    return [dict(row._mapping) for row in rows]


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        sa.select(disputes.c.state, sa.func.count()).group_by(disputes.c.state)
    )
    return {state: int(count) for state, count in rows}
