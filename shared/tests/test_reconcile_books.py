"""`escrowctl reconcile` reads the books from both services' `/ledger/totals` answers, and the
gateways' own listings from payments' `/reconciliation/gateways`."""

from __future__ import annotations

import pytest
import typer
from prometheus_client import REGISTRY
from shared.cli import reconcile as reconcile_module
from shared.cli.reconcile import books, gateway_checks, gateway_table

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


# --- the gateways' own listings (issue 14 point 7) ------------------------------------------

LOST = {
    "kind": "unrecorded",
    "payment_id": "pay-lost",
    "reference": "sbx_lost",
    "recorded": {"status": "started", "amount": 90_000, "currency": "IRR"},
    "settled": {"amount": 90_000, "currency": "IRR"},
}


def gateways(**sandbox: object) -> dict[str, object]:
    agreeing = {
        "complete": True,
        "truncated": False,
        "settled": {"IRR": {"count": 1, "amount": 40_000}},
        "matched": {"IRR": {"count": 1, "amount": 40_000}},
        "differences_count": 0,
        "differences": [],
    }
    return {"gateways": {"sandbox": {**agreeing, **sandbox}, "zarinpal": {**agreeing}}}


def test_gateways_that_agree_have_no_mismatch():
    checks = gateway_checks(gateways())
    assert [(c.gateway, c.mismatches) for c in checks] == [("sandbox", []), ("zarinpal", [])]
    assert "sandbox   complete    IRR" in gateway_table(checks)


def test_each_payment_that_differs_at_its_gateway_is_named():
    [sandbox, _] = gateway_checks(gateways(differences_count=3, differences=[LOST]))
    assert sandbox.mismatches == [
        "unrecorded: pay-lost (reference sbx_lost): recorded started 90,000 IRR, "
        "gateway settled 90,000 IRR",
        "… and 2 more payment(s) that differ",
    ]
    unknown = {**LOST, "payment_id": None, "recorded": None}
    [sandbox, _] = gateway_checks(gateways(differences_count=1, differences=[unknown]))
    assert "no payment here (reference sbx_lost): recorded unknown" in sandbox.mismatches[0]


def test_a_gateway_that_cannot_be_read_is_a_mismatch():
    [sandbox, _] = gateway_checks({"gateways": {"sandbox": {"error": "no answer"}, "zarinpal": {}}})
    assert sandbox.mismatches == ["could not be read: no answer"]


@pytest.mark.parametrize(
    ("listings", "exit_code", "differences"),
    [(gateways(), 0, 0.0), (gateways(differences_count=1, differences=[LOST]), 1, 1.0)],
)
def test_reconcile_prints_the_gateways_sets_the_metric_and_fails_on_a_difference(
    monkeypatch, capsys, listings, exit_code, differences
):
    monkeypatch.setattr(reconcile_module.CliConfig, "load", staticmethod(lambda: None))
    monkeypatch.setattr(reconcile_module, "fetch", lambda config: books(ESCROW, payments()))
    monkeypatch.setattr(reconcile_module, "fetch_gateways", lambda config: gateway_checks(listings))

    code = 0
    try:
        reconcile_module.reconcile(every=0, metrics_port=0)
    except typer.Exit as exited:
        code = exited.exit_code

    printed = capsys.readouterr().out
    assert code == exit_code
    assert "settled" in printed and "sandbox" in printed
    assert ("pay-lost" in printed) is bool(exit_code)
    gauge = REGISTRY.get_sample_value(
        "escrow_suite_reconciliation_gateway_differences", {"gateway": "sandbox"}
    )
    assert gauge == differences
