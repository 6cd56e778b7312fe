"""The ledger's invariants, asserted after every test: money was neither created nor destroyed,
and every running balance is the sum of its account's entries."""

from __future__ import annotations

import sqlalchemy as sa
from shared.db import Database

from payments.adapters.tables import ledger_entries
from payments.domain import ledger
from payments.service_layer import views


async def ledger_problems(db: Database) -> list[str]:
    """Every violated invariant, in words (empty when the books are sound)."""
    totals = await views.ledger_totals(db)
    problems = [
        f"{currency} sums to {found['total']}, not 0"
        for currency, found in totals["currencies"].items()
        if found["total"] != 0
    ]
    problems += [f"unbalanced transaction {t}" for t in totals["unbalanced_transactions"]]
    problems += [f"running balance drifted: {d}" for d in totals["drifted_balances"]]
    async with db.transaction() as session:
        negative = (
            await session.execute(
                sa.select(ledger_entries.c.account, ledger_entries.c.currency)
                .group_by(ledger_entries.c.account, ledger_entries.c.currency)
                .having(sa.func.sum(ledger_entries.c.amount) < 0)
            )
        ).all()
    problems += [
        f"{account} is negative in {currency}"
        for account, currency in negative
        if not ledger.may_go_negative(account)
    ]
    return problems
