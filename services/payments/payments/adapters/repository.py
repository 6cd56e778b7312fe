"""Where the payments service touches its database: aggregates in and out, ledger postings,
running balances, and the due-work queries of the payout and refund workers.

Every method runs in the caller's session (one unit of work per `Database.transaction()`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa
from shared.contract.payments import PaymentPurpose
from shared.sealing import ring_of
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.adapters.tables import (
    account_balances,
    ledger_entries,
    ledger_transactions,
    payments,
    payouts,
    refunds,
)
from payments.domain.ledger import Transaction, has_running_balance
from payments.domain.payment import Payment, PaymentStatus
from payments.domain.payout import Payout
from payments.domain.refund import Refund
from payments.domain.transfer import OutgoingTransfer, TransferStatus

T = TypeVar("T", bound=OutgoingTransfer)


def _columns(obj: object) -> dict[str, Any]:
    """The persisted fields of an aggregate (its recorded events are not state)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name != "events"}  # type: ignore[arg-type]


def _load(cls: type[Any], row: Mapping[Any, Any], **enums: type[Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls) if f.name != "events"}
    values = {k: v for k, v in row.items() if k in names}
    for name, enum in enums.items():
        values[name] = enum(values[name])
    return cls(**values)


def iban_context(row: Mapping[str, Any]) -> str:
    return f"payouts.iban:{row['payout_id']}"


#: fields sealed at rest (`shared.sealing`), per aggregate: the field and its associated data,
#: which binds a sealed value to its row (a sealed IBAN copied to another payout does not open)
_SEALED: dict[type[Any], tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    Payout: ("iban", iban_context)
}


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _stored(self, obj: object) -> dict[str, Any]:
        """`_columns`, with the sealed fields sealed."""
        values = _columns(obj)
        if (sealed := _SEALED.get(type(obj))) is not None:
            field, context = sealed
            values[field] = ring_of(self.session).seal(values[field], context(values))
        return values

    def _loaded(self, kind: type[T], row: Mapping[Any, Any]) -> T:
        """`_load` of a transfer, with the sealed fields opened."""
        if (sealed := _SEALED.get(kind)) is not None:
            field, context = sealed
            row = {**row, field: ring_of(self.session).open(row[field], context(row))}
        loaded: T = _load(kind, row, status=TransferStatus)
        return loaded

    # --- payments --------------------------------------------------------------------------

    async def add_payment(self, payment: Payment) -> None:
        await self.session.execute(sa.insert(payments).values(**_columns(payment)))

    async def get_payment(self, payment_id: str, *, lock: bool = False) -> Payment | None:
        query = sa.select(payments).where(payments.c.payment_id == payment_id)
        return await self._one_payment(query.with_for_update() if lock else query)

    async def payment_by_token(self, gateway: str, token: str) -> Payment | None:
        return await self._one_payment(
            sa.select(payments).where(
                payments.c.gateway == gateway, payments.c.session_token == token
            )
        )

    async def received_payment_for_escrow(self, escrow_id: str) -> Payment | None:
        return await self._one_payment(
            sa.select(payments)
            .where(
                payments.c.escrow_id == escrow_id,
                payments.c.status == PaymentStatus.RECEIVED.value,
            )
            .order_by(payments.c.created_at)
            .limit(1)
        )

    async def save_payment(self, payment: Payment) -> None:
        values = _columns(payment)
        await self.session.execute(
            sa.update(payments)
            .where(payments.c.payment_id == payment.payment_id)
            .values(**values, updated_at=sa.func.now())
        )

    async def claim_inquiries(self, now: datetime, again: datetime, limit: int) -> list[Payment]:
        """Started payments due an inquiry, their next one moved to `again` (another replica's
        round skips the rows this one holds)."""
        rows = await _due_rows(
            self.session,
            payments.c.status,
            PaymentStatus.STARTED,
            payments.c.next_inquiry_at,
            now,
            limit,
        )
        claimed = [
            _load(Payment, row, purpose=PaymentPurpose, status=PaymentStatus) for row in rows
        ]
        if claimed:
            await self.session.execute(
                sa.update(payments)
                .where(payments.c.payment_id.in_([p.payment_id for p in claimed]))
                .values(next_inquiry_at=again)
            )
        return claimed

    async def next_inquiry_due(self) -> datetime | None:
        """When the earliest started payment is due an inquiry."""
        return await _earliest(
            self.session, payments.c.status, PaymentStatus.STARTED, payments.c.next_inquiry_at
        )

    async def _one_payment(self, query: sa.Select[Any]) -> Payment | None:
        row = (await self.session.execute(query)).mappings().first()
        if row is None:
            return None
        payment: Payment = _load(Payment, row, purpose=PaymentPurpose, status=PaymentStatus)
        return payment

    # --- ledger ----------------------------------------------------------------------------

    async def lock_account(self, account: str, currency: str) -> None:
        """Serialise every debit of one account (held until the transaction ends)."""
        await self.session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"{account}|{currency}")))
        )

    async def is_posted(self, key: str) -> bool:
        found = await self.session.scalar(
            sa.select(ledger_transactions.c.id).where(ledger_transactions.c.key == key)
        )
        return found is not None

    async def post(self, transaction: Transaction, occurred_at: datetime) -> bool:
        """Write one balanced transaction and move the running balances it touches; False (and
        nothing written) if its key is posted."""
        transaction_id = await self.session.scalar(
            _INSERT_TRANSACTION,
            {"key": transaction.key, "kind": transaction.kind.value, "occurred_at": occurred_at},
        )
        if transaction_id is None:
            return False
        await self.session.execute(
            _INSERT_ENTRIES,
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
        moved = _balance_moves(transaction)
        if moved:
            await self.session.execute(
                _ADD_TO_BALANCES,
                {
                    "accounts": [account for account, _, _ in moved],
                    "currencies": [currency for _, currency, _ in moved],
                    "amounts": [amount for _, _, amount in moved],
                },
            )
        return True

    async def balance(self, account: str, currency: str) -> int:
        """The running balance (0 before the account's first entry). Asking for an account that
        keeps none is a bug: summing its whole history instead is the cost running balances
        exist to avoid, and no rule needs it."""
        if not has_running_balance(account):
            raise ValueError(f"{account} keeps no running balance")
        found = await self.session.scalar(_BALANCE, {"account": account, "currency": currency})
        return int(found or 0)

    # --- payouts and refunds ---------------------------------------------------------------

    async def add_payout(self, payout: Payout) -> None:
        await self.session.execute(sa.insert(payouts).values(**self._stored(payout)))

    async def get_payout(self, payout_id: str, *, lock: bool = False) -> Payout | None:
        return await self._one(Payout, payouts.c.payout_id == payout_id, lock)

    async def save_payout(self, payout: Payout) -> None:
        await self._save(payouts.c.payout_id == payout.payout_id, payout)

    async def add_refund(self, refund: Refund) -> bool:
        """False if this refund already exists (the event that causes it was replayed)."""
        inserted = await self.session.execute(
            pg_insert(refunds)
            .values(**_columns(refund))
            .on_conflict_do_nothing(index_elements=["refund_id"])
            .returning(refunds.c.refund_id)
        )
        return inserted.first() is not None

    async def get_refund(self, refund_id: str, *, lock: bool = False) -> Refund | None:
        return await self._one(Refund, refunds.c.refund_id == refund_id, lock)

    async def save_refund(self, refund: Refund) -> None:
        await self._save(refunds.c.refund_id == refund.refund_id, refund)

    async def refunded_total(self, payment_id: str) -> int:
        total = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount), 0)).where(
                refunds.c.payment_id == payment_id
            )
        )
        return int(total or 0)

    async def claim_due(self, kind: type[T], now: datetime, limit: int) -> list[T]:
        """Pending transfers whose time has come, locked so no other worker takes them."""
        table = _TABLES[kind]
        rows = await _due_rows(
            self.session,
            table.c.status,
            TransferStatus.PENDING,
            table.c.next_attempt_at,
            now,
            limit,
        )
        return [self._loaded(kind, row) for row in rows]

    async def next_transfer_due(self, kind: type[OutgoingTransfer]) -> datetime | None:
        """When the earliest pending transfer of `kind` falls due (read from its partial index)."""
        table = _TABLES[kind]
        return await _earliest(
            self.session, table.c.status, TransferStatus.PENDING, table.c.next_attempt_at
        )

    async def get_transfer(
        self, kind: type[T], transfer_id: str, *, lock: bool = False
    ) -> T | None:
        return await self._one(kind, _KEYS[kind] == transfer_id, lock)

    async def save_transfer(self, transfer: OutgoingTransfer) -> None:
        await self._save(_KEYS[type(transfer)] == transfer.transfer_id, transfer)

    async def _one(self, kind: type[T], where: sa.ColumnElement[bool], lock: bool) -> T | None:
        query = sa.select(_TABLES[kind]).where(where)
        row = (await self.session.execute(query.with_for_update() if lock else query)).mappings()
        found = row.first()
        return None if found is None else self._loaded(kind, found)

    async def _save(self, where: sa.ColumnElement[bool], transfer: OutgoingTransfer) -> None:
        table = _TABLES[type(transfer)]
        await self.session.execute(
            sa.update(table).where(where).values(**self._stored(transfer), updated_at=sa.func.now())
        )


def _balance_moves(transaction: Transaction) -> list[tuple[str, str, int]]:
    """Per (account, currency) with a running balance, the sum of the transaction's entries,
    sorted so that every posting locks balance rows in the same order (no deadlock)."""
    moved: defaultdict[tuple[str, str], int] = defaultdict(int)
    for e in transaction.entries:
        if has_running_balance(e.account):
            moved[(e.account, e.currency)] += e.amount
    return sorted(
        (account, currency, amount) for (account, currency), amount in moved.items() if amount
    )


# Built once: building a statement costs more CPU than executing a cached one.
_INSERT_TRANSACTION = (
    pg_insert(ledger_transactions)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(ledger_transactions.c.id)
)
_INSERT_ENTRIES = sa.insert(ledger_entries)
_MOVES = (
    sa.func.unnest(
        sa.bindparam("accounts", type_=ARRAY(sa.String)),
        sa.bindparam("currencies", type_=ARRAY(sa.String)),
        sa.bindparam("amounts", type_=ARRAY(sa.BigInteger)),
    )
    .table_valued("account", "currency", "amount")
    .render_derived(name="moved")
)
# One statement for all of a posting's balances, its rows upserted in the order given.
_NEW_BALANCES = pg_insert(account_balances).from_select(
    ["account", "currency", "balance"],
    sa.select(_MOVES.c.account, _MOVES.c.currency, _MOVES.c.amount),
)
_ADD_TO_BALANCES = _NEW_BALANCES.on_conflict_do_update(
    index_elements=[account_balances.c.account, account_balances.c.currency],
    set_={"balance": account_balances.c.balance + _NEW_BALANCES.excluded.balance},
)
_BALANCE = sa.select(account_balances.c.balance).where(
    account_balances.c.account == sa.bindparam("account"),
    account_balances.c.currency == sa.bindparam("currency"),
)

_TABLES: dict[type[Any], sa.Table] = {Payout: payouts, Refund: refunds}
_KEYS: dict[type[Any], sa.Column[Any]] = {Payout: payouts.c.payout_id, Refund: refunds.c.refund_id}


async def _due_rows(
    session: AsyncSession,
    status: sa.Column[Any],
    waiting: Enum,
    due_at: sa.Column[Any],
    now: datetime,
    limit: int,
) -> Sequence[sa.RowMapping]:
    """The rows in status `waiting` whose `due_at` has come, earliest first, locked; a row
    another replica holds is skipped, not waited for."""
    query = (
        sa.select(status.table)
        .where(status == waiting.value)
        .where(due_at <= now)
        .order_by(due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(query)).mappings().all()


async def _earliest(
    session: AsyncSession, status: sa.Column[Any], waiting: Enum, due_at: sa.Column[Any]
) -> datetime | None:
    """When the earliest row in status `waiting` falls due (read from its partial index)."""
    due: datetime | None = await session.scalar(
        sa.select(sa.func.min(due_at)).where(status == waiting.value)
    )
    return due
