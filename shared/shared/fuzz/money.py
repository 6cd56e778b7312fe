"""Where the money stands: a snapshot of the escrow and payments databases (read directly with
asyncpg, the tables of their migrations), and the books `escrowctl reconcile` keeps, from the
services' `/ledger/totals`. Two snapshots are equal exactly when no money moved in between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from shared.auth import ActorAuth
from shared.cli.reconcile import Books, books
from shared.contract.base import Actor, Role

#: database -> what is read -> a query of (what, currency, figure...) rows
QUERIES: dict[str, dict[str, str]] = {
    "escrow": {
        # every account of the escrow ledger: escrow:<id> (held), contractor:, employer:, psp:,
        # platform:fees
        "ledger balance": "SELECT account, currency, sum(amount) FROM ledger_entries GROUP BY 1, 2",
        "ledger transactions": "SELECT kind, '', count(*) FROM ledger_transactions GROUP BY 1",
        "held": "SELECT 'escrow:*', currency, sum(amount) FROM ledger_entries"
        " WHERE account LIKE 'escrow:%' GROUP BY 2",
        "escrows (count, amount)": "SELECT state, currency, count(*), sum(amount) FROM escrows"
        " GROUP BY 1, 2",
    },
    "payments": {
        # gateway-clearing, escrow-holding:<escrow>, wallet:<user>, platform:fees, in flight
        "ledger balance": "SELECT account, currency, sum(amount) FROM ledger_entries GROUP BY 1, 2",
        "running balance": "SELECT account, currency, balance FROM account_balances",
        "ledger transactions": "SELECT kind, '', count(*) FROM ledger_transactions GROUP BY 1",
        # a payment only started at the gateway holds no money (a fuzzed, validly signed
        # StartPayment may open one); every other status does or did
        "payments (count, amount)": "SELECT status, currency, count(*), sum(amount)"
        " FROM payments WHERE status <> 'started' GROUP BY 1, 2",
        "payouts (count, amount)": "SELECT status, currency, count(*), sum(amount) FROM payouts"
        " GROUP BY 1, 2",
        "refunds (count, amount)": "SELECT status, currency, count(*), sum(amount) FROM refunds"
        " GROUP BY 1, 2",
    },
}

Snapshot = dict[str, list[Any]]


async def snapshot(dsn_of: dict[str, str]) -> Snapshot:
    """`"<database> <what> <row key>"` -> figures, for every query of `QUERIES`."""
    found: Snapshot = {}
    for database, queries in QUERIES.items():
        connection = await asyncpg.connect(dsn_of[database])
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                for what, query in queries.items():
                    for row in await connection.fetch(query):
                        found[f"{database} {what} {row[0]} {row[1]}".rstrip()] = [
                            int(x) for x in row[2:]
                        ]
        finally:
            await connection.close()
    return found


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    return [
        f"{name}: {before.get(name)} -> {after.get(name)}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


@dataclass(frozen=True)
class Reconciled:
    books: list[Books]

    @property
    def problems(self) -> list[str]:
        return [f"{b.currency}: {p}" for b in self.books for p in b.mismatches]

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {**vars(b), "difference": b.difference, "mismatches": b.mismatches} for b in self.books
        ]


async def reconcile(escrow_url: str, payments_url: str, private_key_pem: str) -> Reconciled:
    """The books of `escrowctl reconcile`, read the way it reads them (as the operator)."""
    operator = Actor(user_id="fuzz-reconcile", role=Role.OPERATOR)
    async with httpx.AsyncClient(timeout=30, auth=ActorAuth(private_key_pem, operator)) as client:
        escrow = (await client.get(f"{escrow_url}/ledger/totals")).raise_for_status().json()
        payments = (await client.get(f"{payments_url}/ledger/totals")).raise_for_status().json()
    return Reconciled(books(escrow, payments))
