"""The database itself refuses an unbalanced ledger transaction and any rewrite of history, even
from code that bypasses the domain; a posting's key is applied once; the migrations build the
tables."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from payments.adapters.repository import Repository
from payments.adapters.tables import ledger_entries, ledger_transactions
from payments.domain import escrow_money
from payments.testing.ledger import ledger_problems
from shared.db import Database
from shared.testing.harness import schema_drift
from sqlalchemy.exc import DBAPIError

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def _write(db: Database, *amounts: int) -> None:
    async with db.transaction() as session:
        tx_id = await session.scalar(
            sa.insert(ledger_transactions)
            .values(key="raw", kind="release", occurred_at=sa.func.now())
            .returning(ledger_transactions.c.id)
        )
        for account, amount in zip(("gateway-clearing", "platform:fees"), amounts, strict=True):
            await session.execute(
                sa.insert(ledger_entries).values(
                    transaction_id=tx_id, account=account, currency="IRR", amount=amount
                )
            )


async def test_an_unbalanced_transaction_cannot_be_committed(db: Database):
    with pytest.raises(DBAPIError, match="does not balance"):
        await _write(db, -100, 99)
    await _write(db, -100, 100)  # the same shape, balanced, is accepted
    assert await ledger_problems(db) == []


async def test_the_ledger_is_append_only(db: Database):
    await _write(db, -5, 5)
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.transaction() as session:
            await session.execute(sa.update(ledger_entries).values(amount=6))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.transaction() as session:
            await session.execute(sa.delete(ledger_entries))


async def test_a_posting_key_is_applied_once(db: Database):
    tx = escrow_money.refund_reserved("k-1", "e1", "IRR", 10)
    async with db.transaction() as session:
        first = await Repository(session).post(tx, NOW)
        second = await Repository(session).post(tx, NOW)
    async with db.transaction() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(ledger_entries))
    assert (first, second, count) == (True, False, 2)


async def test_the_migrations_build_exactly_the_tables_the_code_uses(db):
    from payments.adapters.tables import metadata

    assert await schema_drift(db, metadata) == []
