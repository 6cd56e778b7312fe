"""What this service knows of escrows: the latest snapshot announced on the escrow topics.

Snapshots arrive on many topics, so out of order; each one only replaces a lower version. The
escrow database itself is never read (DESIGN §9).
"""

from __future__ import annotations

import sqlalchemy as sa
from shared.contract.escrow import EscrowSnapshot as WireSnapshot
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from disputes import domain
from disputes.adapters.tables import escrow_views


async def remember(session: AsyncSession, snapshot: WireSnapshot) -> None:
    """Keep `snapshot` if it is newer than what is known of its escrow."""
    values = {
        "escrow_id": snapshot.escrow_id,
        "employer_id": snapshot.employer_id,
        "contractor_id": snapshot.contractor_id,
        "state": snapshot.state.value,
        "currency": snapshot.currency,
        "held": snapshot.held,
        "dispute_id": snapshot.dispute_id,
        "version": snapshot.version,
        "snapshot": snapshot.model_dump(mode="json"),
    }
    upsert = insert(escrow_views).values(**values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[escrow_views.c.escrow_id],
            set_={name: upsert.excluded[name] for name in values if name != "escrow_id"},
            where=escrow_views.c.version < upsert.excluded.version,
        )
    )


async def find(session: AsyncSession, escrow_id: str) -> domain.EscrowSnapshot | None:
    """The escrow as last announced, locked so that openings on one escrow run one at a time."""
    row = (
        await session.execute(
            sa.select(escrow_views).where(escrow_views.c.escrow_id == escrow_id).with_for_update()
        )
    ).first()
    if row is None:
        return None
    return domain.EscrowSnapshot(
        escrow_id=row.escrow_id,
        employer_id=row.employer_id,
        contractor_id=row.contractor_id,
        state=row.state,
        currency=row.currency,
    )
