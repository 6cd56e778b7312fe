"""The double-entry ledger: a transaction balances per currency or does not exist, and each
kind of movement posts exactly the legs DESIGN §3 names."""

from datetime import UTC, datetime

import pytest
from escrow.domain import Entry, FeeSplit, Transaction, TransactionKind, ledger

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def transaction(*entries: Entry) -> Transaction:
    return Transaction(TransactionKind.FUNDING, entries, escrow_version=2, occurred_at=NOW)


def test_a_balanced_transaction_exists() -> None:
    posted = transaction(Entry("escrow:e-1", "IRR", 100), Entry("psp:p-1", "IRR", -100))
    assert ledger.movement([posted], "escrow:e-1") == 100


@pytest.mark.parametrize(
    "entries",
    [
        (Entry("escrow:e-1", "IRR", 100), Entry("psp:p-1", "IRR", -99)),
        (Entry("escrow:e-1", "IRR", 100),),
        (Entry("escrow:e-1", "IRR", 100), Entry("psp:p-1", "USD", -100)),  # balanced in no currency
        (Entry("escrow:e-1", "IRR", 0), Entry("psp:p-1", "IRR", 0)),
        (Entry("escrow:e-1", "IRR", True), Entry("psp:p-1", "IRR", -1)),
        (Entry("escrow:e-1", "IRR", 1.0), Entry("psp:p-1", "IRR", -1.0)),  # type: ignore[arg-type]
        (),
    ],
)
def test_an_unbalanced_or_malformed_transaction_cannot_be_built(entries: tuple[Entry, ...]) -> None:
    with pytest.raises(ValueError):
        transaction(*entries)


def test_each_currency_balances_on_its_own() -> None:
    transaction(
        Entry("a", "IRR", 5), Entry("b", "IRR", -5), Entry("a", "USD", -2), Entry("b", "USD", 2)
    )


def test_funding_moves_the_payment_into_the_escrow() -> None:
    assert ledger.funding("e-1", "p-1", "IRR", 100) == (
        Entry("escrow:e-1", "IRR", 100),
        Entry("psp:p-1", "IRR", -100),
    )


def test_release_pays_the_net_and_the_fee_and_omits_a_zero_fee() -> None:
    assert ledger.release("e-1", "con-1", "IRR", FeeSplit(100, 10, 90)) == (
        Entry("escrow:e-1", "IRR", -100),
        Entry("contractor:con-1", "IRR", 90),
        Entry("platform:fees", "IRR", 10),
    )
    assert ledger.release("e-1", "con-1", "IRR", FeeSplit(5, 0, 5)) == (
        Entry("escrow:e-1", "IRR", -5),
        Entry("contractor:con-1", "IRR", 5),
    )


def test_refund_returns_the_money_to_the_employer_without_fee() -> None:
    assert ledger.refund("e-1", "emp-1", "IRR", 40) == (
        Entry("escrow:e-1", "IRR", -40),
        Entry("employer:emp-1", "IRR", 40),
    )


def test_settlement_empties_the_escrow_and_leaves_out_empty_sides() -> None:
    both = ledger.settlement("e-1", ("emp-1", "con-1"), "IRR", FeeSplit(60, 6, 54), 40)
    assert both == (
        Entry("escrow:e-1", "IRR", -100),
        Entry("contractor:con-1", "IRR", 54),
        Entry("platform:fees", "IRR", 6),
        Entry("employer:emp-1", "IRR", 40),
    )
    all_to_employer = ledger.settlement("e-1", ("emp-1", "con-1"), "IRR", FeeSplit(0, 0, 0), 40)
    assert all_to_employer == (Entry("escrow:e-1", "IRR", -40), Entry("employer:emp-1", "IRR", 40))


def test_movement_sums_one_account_by_kind() -> None:
    funded = Transaction(TransactionKind.FUNDING, ledger.funding("e-1", "p", "IRR", 100), 2, NOW)
    refunded = Transaction(TransactionKind.REFUND, ledger.refund("e-1", "emp", "IRR", 30), 3, NOW)
    assert ledger.movement([funded, refunded], "escrow:e-1") == 70
    assert ledger.movement([funded, refunded], "escrow:e-1", TransactionKind.REFUND) == -30
    assert ledger.movement([funded, refunded], "employer:emp") == 30
