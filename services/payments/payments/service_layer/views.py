"""The read side: payments, wallets with their entries, payouts, refunds, and ledger totals for
reconciliation. Plain queries returning JSON-ready dicts; nothing here writes (but the wallet
gauge). Balances come from the running balances; only reconciliation sums the whole ledger."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from shared.db import Database
from shared.sealing import ring_of

from payments import metrics
from payments.adapters.repository import iban_context
from payments.adapters.tables import (
    account_balances,
    ledger_entries,
    ledger_transactions,
    payments,
    payouts,
    refunds,
)
from payments.domain import ledger
from payments.domain.iban import mask


def _jsonable(row: Any) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(row).items()}


async def _one(db: Database, query: sa.Select[Any]) -> dict[str, Any] | None:
    async with db.transaction() as session:
        row = (await session.execute(query)).mappings().first()
    return None if row is None else _jsonable(row)


async def payment(db: Database, payment_id: str) -> dict[str, Any] | None:
    return await _one(db, sa.select(payments).where(payments.c.payment_id == payment_id))


async def payout(db: Database, payout_id: str) -> dict[str, Any] | None:
    async with db.transaction() as session:
        row = (
            (await session.execute(sa.select(payouts).where(payouts.c.payout_id == payout_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        iban = ring_of(session).open(row["iban"], iban_context(row))
    # a read API is no place for a full account number
    return {**_jsonable(row), "iban": mask(iban)}


async def refund(db: Database, refund_id: str) -> dict[str, Any] | None:
    return await _one(db, sa.select(refunds).where(refunds.c.refund_id == refund_id))


async def wallet(db: Database, user_id: str, limit: int = 100) -> dict[str, Any]:
    account = ledger.wallet(user_id)
    async with db.transaction() as session:
        balances = (
            await session.execute(
                sa.select(account_balances.c.currency, account_balances.c.balance).where(
                    account_balances.c.account == account
                )
            )
        ).all()
        entries = (
            (
                await session.execute(
                    sa.select(
                        ledger_transactions.c.key.label("transaction"),
                        ledger_transactions.c.kind,
                        ledger_transactions.c.occurred_at,
                        ledger_entries.c.currency,
                        ledger_entries.c.amount,
                    )
                    .join(ledger_transactions)
                    .where(ledger_entries.c.account == account)
                    .order_by(ledger_entries.c.id.desc())
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
    return {
        "user_id": user_id,
        "balances": {currency: int(total) for currency, total in balances},
        "entries": [_jsonable(e) for e in entries],
    }


async def ledger_totals(db: Database) -> dict[str, Any]:
    """Per currency: the sum of every account (always 0) and the balance of each account class,
    plus any transaction that does not balance and any running balance that is not the sum of
    its account's entries (always none): what reconciliation starts from."""
    async with db.transaction() as session:
        # One snapshot for every query: a posting committed between two would look like drift.
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        rows = (
            await session.execute(
                sa.select(
                    ledger_entries.c.currency,
                    ledger_entries.c.account,
                    sa.func.sum(ledger_entries.c.amount),
                ).group_by(ledger_entries.c.currency, ledger_entries.c.account)
            )
        ).all()
        unbalanced = (
            await session.execute(
                sa.select(ledger_entries.c.transaction_id, ledger_entries.c.currency)
                .group_by(ledger_entries.c.transaction_id, ledger_entries.c.currency)
                .having(sa.func.sum(ledger_entries.c.amount) != 0)
            )
        ).all()
        flows = await _gateway_flows(session)
        running = (await session.execute(sa.select(account_balances))).all()
    currencies: dict[str, dict[str, Any]] = {}
    for currency, account, total in rows:
        found = currencies.setdefault(currency, {"total": 0, "accounts": defaultdict(int)})
        found["total"] += int(total)
        found["accounts"][ledger.account_class(account)] += int(total)
    for currency, found in currencies.items():
        found["accounts"] = dict(found["accounts"])
        found["gateway"] = flows.get(currency, {})
    return {
        "currencies": currencies,
        "unbalanced_transactions": [{"transaction_id": t, "currency": c} for t, c in unbalanced],
        "drifted_balances": _drifted(rows, running),
    }


def _drifted(sums: Sequence[Any], running: Sequence[Any]) -> list[dict[str, Any]]:
    """Each account whose running balance (none counts as 0) is not the sum of its entries, and
    any balance row of an account that keeps none."""
    entries = {(account, currency): int(total) for currency, account, total in sums}
    kept = {(account, currency): int(balance) for account, currency, balance in running}
    checked = {key for key in entries if ledger.has_running_balance(key[0])} | kept.keys()
    drifted = []
    for account, currency in sorted(checked):
        balance, total = kept.get((account, currency)), entries.get((account, currency), 0)
        if (balance or 0) != total or not ledger.has_running_balance(account):
            drifted.append(
                {"account": account, "currency": currency, "balance": balance, "entries": total}
            )
    return drifted


async def _gateway_flows(session: Any) -> dict[str, dict[str, int]]:
    """Per currency, what crossed the gateway by kind of transaction: money in (payments) is
    taken from `gateway-clearing`, money out (payouts, refunds) goes back to it."""
    rows = await session.execute(
        sa.select(
            ledger_entries.c.currency,
            ledger_transactions.c.kind,
            sa.func.sum(ledger_entries.c.amount),
        )
        .join(ledger_transactions, ledger_transactions.c.id == ledger_entries.c.transaction_id)
        .where(ledger_entries.c.account == ledger.GATEWAY_CLEARING)
        .group_by(ledger_entries.c.currency, ledger_transactions.c.kind)
    )
    flows: dict[str, dict[str, int]] = {}
    for currency, kind, total in rows:
        flows.setdefault(currency, {})[kind] = -int(total)
    return flows


async def refresh_wallet_gauge(db: Database) -> None:
    """Keep `escrow_suite_wallet_balance_total` current (a background round): a sum over the
    wallets' running balances, one row per wallet and currency, never over the ledger."""
    async with db.transaction() as session:
        totals = (await session.execute(_WALLET_TOTALS)).all()
    for currency, total in totals:
        metrics.WALLET_BALANCE.labels(currency).set(int(total))


_WALLET_TOTALS = (
    sa.select(account_balances.c.currency, sa.func.sum(account_balances.c.balance))
    .where(account_balances.c.account.startswith(ledger.WALLET_PREFIX, autoescape=True))
    .group_by(account_balances.c.currency)
)
