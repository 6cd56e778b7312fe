"""`escrowctl reconcile` reads the books from both services' `/ledger/totals` answers."""

from __future__ import annotations

from shared.cli.reconcile import books

ESCROW = {"currencies": {"IRR": {"escrow": 600, "platform": 0}}}


def payments(**extra: object) -> dict[str, object]:
    return {
        "currencies": {
            "IRR": {
                "accounts": {"escrow-holding": 600, "gateway-clearing": -1000, "wallet": 400},
                "gateway": {"escrow_funding": 1000},
            }
        },
        **extra,
    }


def test_books_that_agree_have_no_mismatch():
    [irr] = books(ESCROW, payments(unbalanced_transactions=[], drifted_balances=[]))
    assert (irr.difference, irr.mismatches) == (0, [])


def test_a_drifted_running_balance_or_an_unbalanced_transaction_is_a_mismatch():
    drifted = {"account": "wallet:u-1", "currency": "IRR", "balance": 500, "entries": 400}
    unbalanced = {"transaction_id": 7, "currency": "IRR"}
    [irr] = books(
        ESCROW, payments(drifted_balances=[drifted], unbalanced_transactions=[unbalanced])
    )
    assert irr.difference == 0  # the sums agree: only payments' own checks see it
    assert irr.mismatches == [
        "1 ledger transaction(s) in payments do not balance",
        "1 running balance(s) in payments drifted from the ledger",
    ]
