"""Read side: what the HTTP API and the metrics ask of the escrow database (no locks)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from escrow.adapters.tables import (
    contracts,
    escrow_history,
    escrow_timers,
    escrows,
    ledger_entries,
    ledger_transactions,
)
from escrow.domain.states import HOLDING_STATES

ACCOUNT_CLASS = sa.func.split_part(ledger_entries.c.account, ":", 1)

# The constants of `held_per_currency` are written into its SQL, not bound: with bound values a
# prepared statement's generic plan cannot tell how few escrows hold money, and reads the ledger.
ESCROW_ACCOUNT = sa.literal("escrow:", literal_execute=True) + escrows.c.escrow_id
HOLDING = escrows.c.state.in_(
    sa.bindparam(
        "holding_states",
        sorted(state.value for state in HOLDING_STATES),
        expanding=True,
        literal_execute=True,
    )
)


async def held_per_currency(session: AsyncSession) -> dict[str, int]:
    """Per currency, the money held in escrow: the `escrow:<id>` balances of the escrows in a
    holding state (in every other state an escrow holds nothing), found through the index on
    `state`, so the cost follows the open escrows, not the whole ledger (`ledger_totals`, the
    audit view, reads all of it)."""
    rows = await session.execute(
        sa.select(ledger_entries.c.currency, sa.func.sum(ledger_entries.c.amount))
        .join(escrows, ledger_entries.c.account == ESCROW_ACCOUNT)
        .where(HOLDING)
        .group_by(ledger_entries.c.currency)
    )
    return {currency: int(total) for currency, total in rows}


async def ledger_totals(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per currency, the balance of each class of account; each currency's classes sum to zero.

    `psp` is what payments brought in (negative: it is the source), `escrow` what is held,
    `contractor` what was released or settled to contractors (net), `employer` what went back
    to employers, `platform` the fees.
    """
    rows = await session.execute(
        sa.select(
            ledger_entries.c.currency, ACCOUNT_CLASS, sa.func.sum(ledger_entries.c.amount)
        ).group_by(ledger_entries.c.currency, ACCOUNT_CLASS)
    )
    totals: dict[str, dict[str, int]] = {}
    for currency, account_class, total in rows:
        totals.setdefault(currency, {})[account_class] = int(total)
    return totals


async def escrow_records(session: AsyncSession, escrow_id: str) -> dict[str, Any]:
    """An escrow's ledger transactions (one row per entry), history and timers."""
    entries = await session.execute(
        sa.select(
            ledger_transactions.c.id,
            ledger_transactions.c.kind,
            ledger_transactions.c.escrow_version,
            ledger_transactions.c.occurred_at,
            ledger_entries.c.account,
            ledger_entries.c.currency,
            ledger_entries.c.amount,
        )
        .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
        .where(ledger_transactions.c.escrow_id == escrow_id)
        .order_by(ledger_transactions.c.id, ledger_entries.c.id)
    )
    history = await session.execute(
        sa.select(escrow_history)
        .where(escrow_history.c.escrow_id == escrow_id)
        .order_by(escrow_history.c.version)
    )
    timers = await session.execute(
        sa.select(escrow_timers.c.kind, escrow_timers.c.due_at, escrow_timers.c.fired_at)
        .where(escrow_timers.c.escrow_id == escrow_id)
        .order_by(escrow_timers.c.due_at)
    )
    return {
        "ledger": [dict(r._mapping) for r in entries],
        "history": [dict(r._mapping) for r in history],
        "timers": [dict(r._mapping) for r in timers],
    }


async def contract_row(session: AsyncSession, contract_id: str) -> dict[str, Any] | None:
    query = sa.select(contracts).where(contracts.c.contract_id == contract_id)
    row = (await session.execute(query)).first()
    return dict(row._mapping) if row else None
