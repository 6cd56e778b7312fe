"""Loads and saves contracts and escrows, their ledger transactions, history and timers.

Every load for a change takes the row lock (`FOR UPDATE`), so two handlers acting on one escrow
(a release and a dispute arriving together) run one after the other and exactly one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from shared.timers import Claimed, TimerTable
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from escrow import domain
from escrow.adapters import wire
from escrow.adapters.tables import (
    contracts,
    escrow_history,
    escrow_timers,
    escrows,
    ledger_entries,
    ledger_transactions,
)

ESCROW_FIELDS = [c.name for c in escrows.columns]
CONTRACT_FIELDS = [c.name for c in contracts.columns]

# Built once and executed with parameters: building a statement with `.values(...)` costs more CPU
# than executing the cached one.
_CONTRACT = sa.select(contracts).where(contracts.c.contract_id == sa.bindparam("contract_id"))
_INSERT_CONTRACT = sa.insert(contracts)
_ESCROW = sa.select(escrows).where(escrows.c.escrow_id == sa.bindparam("escrow_id"))
_INSERT_ESCROW = sa.insert(escrows)
_UPDATE_ESCROW = (
    sa.update(escrows)
    .where(escrows.c.escrow_id == sa.bindparam("key_escrow_id"))
    .values({name: sa.bindparam(name) for name in ESCROW_FIELDS})
)
#: the escrows' timers, claimed and parked as every service's are
TIMERS = TimerTable(escrow_timers, "escrow_id")


class EscrowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded_versions: dict[str, int] = {}
        self._loaded_states: dict[str, str] = {}

    # --- contracts -------------------------------------------------------------------------

    async def contract(self, contract_id: str, *, lock: bool = True) -> domain.Contract | None:
        query = _CONTRACT.with_for_update() if lock else _CONTRACT
        row = (await self.session.execute(query, {"contract_id": contract_id})).first()
        return domain.Contract(**row._mapping) if row else None

    async def add_contract(self, contract: domain.Contract) -> None:
        values = {name: getattr(contract, name) for name in CONTRACT_FIELDS}
        await self.session.execute(_INSERT_CONTRACT, values)

    async def save_contract(self, contract: domain.Contract) -> None:
        await self.session.execute(
            sa.update(contracts)
            .where(contracts.c.contract_id == contract.contract_id)
            .values(version=contract.version)
        )

    # --- escrows ---------------------------------------------------------------------------

    async def get(self, escrow_id: str, *, lock: bool = True) -> domain.Escrow | None:
        query = _ESCROW.with_for_update() if lock else _ESCROW
        row = (await self.session.execute(query, {"escrow_id": escrow_id})).first()
        if row is None:
            return None
        loaded = await self._build([row._mapping])
        return loaded[0]

    async def of_contract(self, contract_id: str) -> list[domain.Escrow]:
        rows = await self.session.execute(
            sa.select(escrows)
            .where(escrows.c.contract_id == contract_id)
            .order_by(escrows.c.created_at)
        )
        return await self._build([row._mapping for row in rows])

    async def _build(self, rows: Sequence[Any]) -> list[domain.Escrow]:
        transactions = await self._transactions([row["escrow_id"] for row in rows])
        built = []
        for row in rows:
            escrow = domain.Escrow(**dict(row), transactions=transactions.get(row["escrow_id"], []))
            self._loaded_versions[escrow.escrow_id] = escrow.version
            self._loaded_states[escrow.escrow_id] = escrow.state.value
            built.append(escrow)
        return built

    async def _transactions(self, escrow_ids: list[str]) -> dict[str, list[domain.Transaction]]:
        if not escrow_ids:
            return {}
        rows = await self.session.execute(
            sa.select(
                ledger_transactions,
                ledger_entries.c.account,
                ledger_entries.c.currency,
                ledger_entries.c.amount,
            )
            .join(ledger_entries, ledger_entries.c.transaction_id == ledger_transactions.c.id)
            .where(ledger_transactions.c.escrow_id.in_(escrow_ids))
            .order_by(ledger_transactions.c.id, ledger_entries.c.id)
        )
        grouped: dict[int, tuple[Any, list[domain.Entry]]] = {}
        for row in rows:
            entries = grouped.setdefault(row.id, (row, []))[1]
            entries.append(domain.Entry(row.account, row.currency, row.amount))
        found: dict[str, list[domain.Transaction]] = {}
        for head, entries in grouped.values():
            found.setdefault(head.escrow_id, []).append(
                domain.Transaction(
                    domain.TransactionKind(head.kind),
                    tuple(entries),
                    head.escrow_version,
                    head.occurred_at,
                )
            )
        return found

    def loaded_state(self, escrow_id: str) -> str | None:
        """The state the escrow had when loaded (None for a new one)."""
        return self._loaded_states.get(escrow_id)

    async def save(
        self, escrow: domain.Escrow, policy: domain.TimerPolicy, actor: dict[str, str] | None = None
    ) -> datetime | None:
        """Persist the escrow's facts, its new transactions and history, and its due timers;
        returns when the earliest of those timers falls due."""
        before = self._loaded_versions.get(escrow.escrow_id)
        if before == escrow.version:
            return None
        values = {name: getattr(escrow, name) for name in ESCROW_FIELDS}
        if before is None:
            await self.session.execute(_INSERT_ESCROW, values)
        else:
            values["key_escrow_id"] = escrow.escrow_id
            await self.session.execute(_UPDATE_ESCROW, values)
        for transaction in escrow.transactions:
            if before is None or transaction.escrow_version > before:
                await self._post(escrow.escrow_id, transaction)
        await self._record_history(escrow, actor)
        self._loaded_versions[escrow.escrow_id] = escrow.version
        return await self._reset_timers(escrow, policy)

    async def _post(self, escrow_id: str, transaction: domain.Transaction) -> None:
        transaction_id = await self.session.scalar(
            sa.insert(ledger_transactions)
            .values(
                escrow_id=escrow_id,
                kind=transaction.kind.value,
                escrow_version=transaction.escrow_version,
                occurred_at=transaction.occurred_at,
            )
            .returning(ledger_transactions.c.id)
        )
        await self.session.execute(
            sa.insert(ledger_entries),
            [
                {
                    "transaction_id": transaction_id,
                    "account": e.account,
                    "currency": e.currency,
                    "amount": e.amount,
                }
                for e in transaction.entries
            ],
        )

    async def _record_history(self, escrow: domain.Escrow, actor: dict[str, str] | None) -> None:
        rows = [
            {
                "escrow_id": escrow.escrow_id,
                "version": happened.escrow.version,
                "type": wire.event(happened).TYPE,
                "occurred_at": happened.escrow.updated_at,
                "actor": actor,
                "event": wire.event(happened).model_dump(mode="json", exclude={"escrow"}),
            }
            for happened in escrow.events
            if isinstance(happened, domain.EscrowEvent)
        ]
        if rows:
            await self.session.execute(insert(escrow_history).on_conflict_do_nothing(), rows)

    async def _reset_timers(
        self, escrow: domain.Escrow, policy: domain.TimerPolicy
    ) -> datetime | None:
        # What is due follows from the escrow as it now stands: replace the timers still to
        # fire (fired and parked ones stay, as history and for an operator).
        await self.session.execute(
            sa.delete(escrow_timers).where(
                escrow_timers.c.escrow_id == escrow.escrow_id, TIMERS.pending
            )
        )
        timers = escrow.timers(policy)
        if timers:
            await self.session.execute(
                sa.insert(escrow_timers),
                [
                    {"escrow_id": escrow.escrow_id, "kind": t.kind.value, "due_at": t.due_at}
                    for t in timers
                ],
            )
        return min((t.due_at for t in timers), default=None)

    # --- timers ----------------------------------------------------------------------------

    async def lock_pending_timer(self, timer_id: int) -> bool:
        """Lock a claimed timer, its escrow already locked: False if fired, replaced or parked
        meanwhile (see `shared.timers` for the lock order)."""
        return await TIMERS.lock_pending(self.session, timer_id)

    async def mark_fired(self, timer: Claimed, now: datetime) -> None:
        await self.session.execute(TIMERS.fired(timer, now))

    async def next_timer_due(self) -> datetime | None:
        """When the earliest timer still to fire falls due (read from the partial index)."""
        return await TIMERS.next_due(self.session)
