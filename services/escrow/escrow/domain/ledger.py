"""The escrow ledger: balanced double-entry transactions over named accounts (DESIGN §3).

Money is never created or destroyed: a Transaction refuses to exist unless its entries sum to
zero in every currency. A positive amount is a debit (money arrives in the account), a negative
one a credit (money leaves it). What an escrow holds is the balance of `escrow:<id>`, derived
from its transactions and never stored on its own, so the two can never disagree.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from .money import FeeSplit

PLATFORM_FEES: Final = "platform:fees"


def escrow_account(escrow_id: str) -> str:
    return f"escrow:{escrow_id}"


def contractor_account(user_id: str) -> str:
    return f"contractor:{user_id}"


def employer_account(user_id: str) -> str:
    return f"employer:{user_id}"


def psp_account(payment_id: str) -> str:
    return f"psp:{payment_id}"


class TransactionKind(StrEnum):
    FUNDING = "funding"
    RELEASE = "release"
    REFUND = "refund"
    SETTLEMENT = "settlement"


@dataclass(frozen=True)
class Entry:
    account: str
    currency: str
    amount: int


@dataclass(frozen=True)
class Transaction:
    """One money movement; `escrow_version` is the escrow version it belongs to (a natural key)."""

    kind: TransactionKind
    entries: tuple[Entry, ...]
    escrow_version: int
    occurred_at: datetime

    def __post_init__(self) -> None:
        # An unbalanced transaction is a bug in our code, never a user error: fail loudly.
        if not self.entries:
            raise ValueError("a transaction needs at least one entry")
        totals: defaultdict[str, int] = defaultdict(int)
        for entry in self.entries:
            if isinstance(entry.amount, bool) or not isinstance(entry.amount, int):
                raise ValueError(f"entry amount must be an int, got {entry.amount!r}")
            if entry.amount == 0:
                raise ValueError(f"zero-amount entry on {entry.account}")
            totals[entry.currency] += entry.amount
        unbalanced = {currency: total for currency, total in totals.items() if total != 0}
        if unbalanced:
            raise ValueError(f"transaction does not balance: {unbalanced}")


def _entries(currency: str, *movements: tuple[str, int]) -> tuple[Entry, ...]:
    # Zero legs (no fee, an empty side of a verdict) carry no information: leave them out.
    return tuple(Entry(account, currency, amount) for account, amount in movements if amount)


def funding(escrow_id: str, payment_id: str, currency: str, amount: int) -> tuple[Entry, ...]:
    return _entries(
        currency, (escrow_account(escrow_id), amount), (psp_account(payment_id), -amount)
    )


def release(
    escrow_id: str, contractor_id: str, currency: str, split: FeeSplit
) -> tuple[Entry, ...]:
    return _entries(
        currency,
        (escrow_account(escrow_id), -split.gross),
        (contractor_account(contractor_id), split.net),
        (PLATFORM_FEES, split.fee),
    )


def refund(escrow_id: str, employer_id: str, currency: str, amount: int) -> tuple[Entry, ...]:
    return _entries(
        currency, (escrow_account(escrow_id), -amount), (employer_account(employer_id), amount)
    )


def settlement(
    escrow_id: str, parties: tuple[str, str], currency: str, contractor: FeeSplit, employer: int
) -> tuple[Entry, ...]:
    """Everything held leaves at once: the contractor's share less its fee, the employer's all."""
    employer_id, contractor_id = parties
    return _entries(
        currency,
        (escrow_account(escrow_id), -(contractor.gross + employer)),
        (contractor_account(contractor_id), contractor.net),
        (PLATFORM_FEES, contractor.fee),
        (employer_account(employer_id), employer),
    )


def movement(
    transactions: Iterable[Transaction], account: str, kind: TransactionKind | None = None
) -> int:
    """Signed sum of `account`'s entries (of one kind, or all): its balance when kind is None."""
    return sum(
        entry.amount
        for transaction in transactions
        if kind is None or transaction.kind == kind
        for entry in transaction.entries
        if entry.account == account
    )
