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


def test_a_gateways_fee_closes_the_books_and_is_shown_beside_them():
    totals = {
        "currencies": {
            "IRR": {
                "accounts": {
                    "escrow-holding": 600,
                    "wallet": 400,
                    "gateway-clearing": -1000 + 25,  # 975 is at the gateway
                    "gateway-fees": -25,
                },
                "gateway": {"escrow_funding": 1000, "gateway_fee": -25},  # flows are -sum(clearing)
            }
        }
    }
    [irr] = books(ESCROW, totals)
    assert (irr.difference, irr.mismatches, irr.gateway_fees) == (0, [], 25)


def test_a_gateway_fee_booked_on_one_side_only_is_a_mismatch():
    totals = payments()
    totals["currencies"]["IRR"]["accounts"]["gateway-fees"] = -25  # type: ignore[index]
    [irr] = books(ESCROW, totals)
    assert irr.mismatches == ["the gateway fees booked and those at the gateway disagree"]
