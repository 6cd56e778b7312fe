"""The payments ledger: balanced double-entry transactions over this service's money.

Sign convention: a positive entry is money arriving in an account, a negative one money leaving
it. Money enters the platform through `gateway-clearing` (which therefore goes negative by what
the platform holds) and leaves through it again, so the sum of all balances is zero in every
currency at every moment. Accounts:

- `gateway-clearing`      money at payment gateways (per currency: the entry's currency)
- `escrow-holding:<id>`   money paid into one escrow, until released, refunded or settled
- `wallet:<user>`         a user's spendable money (released escrow, direct payments)
- `platform:fees`         the platform's commission
- `payouts-in-flight`     wallet money on its way to a bank account
- `refunds-in-flight`     money on its way back to a payer's card
- `gateway-fees`          what gateways kept of payments as their fee (an expense: negative)

Every transaction has a natural `key` (for example `escrow-released:<escrow>:<version>`) that is
unique in the database, so a redelivered or replayed event can never post the same money twice.
"""

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

GATEWAY_CLEARING: Final = "gateway-clearing"
PLATFORM_FEES: Final = "platform:fees"
PAYOUTS_IN_FLIGHT: Final = "payouts-in-flight"
REFUNDS_IN_FLIGHT: Final = "refunds-in-flight"
GATEWAY_FEES: Final = "gateway-fees"
WALLET_PREFIX: Final = "wallet:"
ESCROW_PREFIX: Final = "escrow-holding:"


def wallet(user_id: str) -> str:
    return f"{WALLET_PREFIX}{user_id}"


def escrow_holding(escrow_id: str) -> str:
    return f"{ESCROW_PREFIX}{escrow_id}"


def account_class(account: str) -> str:
    """`wallet:u-1` → `wallet`; used to total accounts for reconciliation."""
    for prefix in (WALLET_PREFIX, ESCROW_PREFIX):
        if account.startswith(prefix):
            return prefix.rstrip(":")
    return account


class TransactionKind(StrEnum):
    ESCROW_FUNDING = "escrow_funding"
    DIRECT_PAYMENT = "direct_payment"
    RELEASE = "release"
    SETTLEMENT = "settlement"
    REFUND_REQUESTED = "refund_requested"
    REFUND_COMPLETED = "refund_completed"
    PAYOUT_REQUESTED = "payout_requested"
    PAYOUT_COMPLETED = "payout_completed"
    PAYOUT_RETURNED = "payout_returned"
    GATEWAY_FEE = "gateway_fee"


@dataclass(frozen=True)
class Entry:
    account: str
    currency: str
    amount: int


@dataclass(frozen=True)
class Transaction:
    key: str
    kind: TransactionKind
    entries: tuple[Entry, ...]

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
        unbalanced = {currency: total for currency, total in totals.items() if total}
        if unbalanced:
            raise ValueError(f"transaction {self.key} does not balance: {unbalanced}")

    def outflows(self) -> dict[tuple[str, str], int]:
        """How much leaves each (account, currency), for the guard that no account pays what it
        does not hold."""
        found: defaultdict[tuple[str, str], int] = defaultdict(int)
        for entry in self.entries:
            if entry.amount < 0:
                found[(entry.account, entry.currency)] -= entry.amount
        return dict(found)


def may_go_negative(account: str) -> bool:
    """Only the gateway side of the ledger is negative (by what the platform holds), and the
    gateways' fees (an expense); every other account holding less than zero would mean money
    paid out that never came in."""
    return account in (GATEWAY_CLEARING, GATEWAY_FEES)


def has_running_balance(account: str) -> bool:
    """Whether the ledger keeps a running balance of `account`: only one owner's accounts, a
    wallet or an escrow's holding, whose balance is read (a debit of one is checked against it, a
    wallet's is shown and paid out).

    The shared accounts that every payment, release, payout or refund goes through
    (`gateway-clearing`, `platform:fees`, the two in-flight accounts) keep none: one balance row
    for them would be one row lock that all those transactions wait on, and theirs is never
    read. The gateway side may go negative; fees are only ever credited; money leaves an
    in-flight account only when the payout or refund that put it there completes or returns,
    under that transfer's row lock and once per key.
    """
    return account.startswith((WALLET_PREFIX, ESCROW_PREFIX))


def transaction(
    key: str, kind: TransactionKind, currency: str, *moves: tuple[str, int]
) -> Transaction:
    """One-currency transaction; zero legs (no fee, an empty side of a verdict) are left out."""
    entries = tuple(Entry(account, currency, amount) for account, amount in moves if amount)
    return Transaction(key, kind, entries)


def moves(source: str, amount: int, *targets: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    """`amount` leaves `source` and is split over `targets`."""
    return ((source, -amount), *targets)
