"""The money-held gauge (`escrow_suite_money_held`), refreshed by its own background loop every
`METRICS_REFRESH_S`, apart from the timers: it is a reading for dashboards, not a step of any
money movement. Reconciliation reads the ledger itself (`/ledger/totals`)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.db import Database

from escrow import metrics
from escrow.adapters.queries import held_per_currency


async def refresh_money_held(db: Database, currencies: Iterable[str]) -> None:
    """Set the gauge of every accepted currency (0 when nothing is held in it) and of any other
    currency still held."""
    async with db.transaction() as session:
        held = await held_per_currency(session)
    for currency in {*currencies, *held}:
        metrics.MONEY_HELD.labels(currency).set(held.get(currency, 0))
