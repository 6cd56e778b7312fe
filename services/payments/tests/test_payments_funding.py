"""Funding over the real broker and database: StartPayment, the sandbox's payment page, its
signed callback verified with the gateway, and what forged, mismatched or repeated callbacks do."""

import pytest
from payments.testing.harness import PaymentsHarness
from shared.contract.base import Actor, Role

pytestmark = pytest.mark.integration


async def test_an_escrow_payment_is_started_paid_and_received_once(payments: PaymentsHarness):
    result, payment_id = await payments.start_payment(250_000, escrow_id="esc-1")
    assert result.accepted and result.aggregate_id == payment_id
    started = await payments.wait_event("payment-started", payment_id=payment_id)
    assert started["redirect_url"].startswith(payments.sandbox.url)
    assert (started["gateway"], started["amount"], started["escrow_id"]) == (
        "sandbox",
        250_000,
        "esc-1",
    )

    answer = await payments.pay(payment_id)

    assert answer["callbacks"] == [200]
    received = await payments.wait_event("payment-received", payment_id=payment_id)
    assert received["guaranteed"] is True
    assert (received["payer_id"], received["escrow_id"], received["amount"]) == (
        "emp-1",
        "esc-1",
        250_000,
    )
    assert (await payments.read(f"/payments/{payment_id}"))["status"] == "received"
    totals = (await payments.read("/ledger/totals"))["currencies"]["IRR"]
    assert totals["accounts"] == {"gateway-clearing": -250_000, "escrow-holding": 250_000}


async def test_a_duplicated_callback_yields_one_payment_received(payments: PaymentsHarness):
    await payments.sandbox.behave(callback_copies=3)
    _, payment_id = await payments.start_payment(40_000, escrow_id="esc-dup")

    answer = await payments.pay(payment_id)

    assert answer["callbacks"] == [200, 200, 200]  # each answered, only the first recorded
    await payments.wait_event("payment-received", payment_id=payment_id)
    marker = await payments.fund(1_000, escrow_id="esc-marker")  # published after the duplicates
    assert len(payments.events("payment-received", payment_id=payment_id)) == 1
    assert len(payments.events("payment-received", payment_id=marker)) == 1
    holding = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert holding["escrow-holding"] == 41_000


async def test_a_forged_callback_is_refused_and_records_nothing(payments: PaymentsHarness):
    await payments.sandbox.behave(forge_callbacks=True)
    _, payment_id = await payments.start_payment(70_000, escrow_id="esc-forged")
    started = await payments.wait_event("payment-started", payment_id=payment_id)
    token = started["redirect_url"].rsplit("/", 1)[1]
    body = (
        f'{{"token": "{token}", "order_id": "{payment_id}", "status": "paid", '
        f'"amount": 70000, "currency": "IRR", "reference": "r"}}'
    )

    unsigned = await payments.http.post("/callbacks/sandbox", content=body)
    badly_signed = await payments.http.post(
        "/callbacks/sandbox", content=body, headers={"x-sandbox-signature": "00" * 32}
    )
    unknown_gateway = await payments.http.post("/callbacks/paypal", content=body)
    answer = await payments.pay(payment_id)  # the sandbox signs with a key we do not share

    assert (unsigned.status_code, badly_signed.status_code) == (401, 401)
    assert unknown_gateway.status_code == 404
    assert answer["callbacks"] == [401]
    await _nothing_recorded(payments, payment_id)


async def test_an_amount_mismatch_records_nothing(payments: PaymentsHarness):
    await payments.sandbox.behave(callback_amount=7)  # signed, but not what was paid
    _, claimed_other = await payments.start_payment(70_000, escrow_id="esc-claim")
    claim_answer = await payments.pay(claimed_other)
    await payments.sandbox.behave_well()
    _, paid_other = await payments.start_payment(70_000, escrow_id="esc-short")
    gateway_answer = await payments.pay(paid_other, amount=69_999)  # the gateway saw less

    assert claim_answer["callbacks"] == gateway_answer["callbacks"] == [409]
    await _nothing_recorded(payments, claimed_other, paid_other)


async def test_a_failed_payment_is_announced_and_moves_no_money(payments: PaymentsHarness):
    _, payment_id = await payments.start_payment(9_000, escrow_id="esc-fail")

    await payments.pay(payment_id, outcome="failed")

    failed = await payments.wait_event("payment-failed", payment_id=payment_id)
    assert failed["escrow_id"] == "esc-fail"
    assert (await payments.read(f"/payments/{payment_id}"))["status"] == "failed"
    assert (await payments.read("/ledger/totals"))["currencies"] == {}


async def test_a_direct_payment_credits_the_payee_at_once_without_guarantee(
    payments: PaymentsHarness,
):
    await payments.sandbox.behave(callback_delay_ms=200)  # the callback comes when it comes
    _, payment_id = await payments.start_payment(12_345, payee_id="con-direct")
    assert (await payments.pay(payment_id))["callbacks"] == []  # not sent yet
    await payments.wait_event("payment-received", payment_id=payment_id)

    received = payments.events("payment-received", payment_id=payment_id)[0]
    assert (received["purpose"], received["guaranteed"]) == ("direct", False)
    assert received["escrow_id"] is None
    wallet = await payments.read("/wallets/con-direct")
    assert wallet["balances"] == {"IRR": 12_345}
    assert [(e["kind"], e["amount"]) for e in wallet["entries"]] == [("direct_payment", 12_345)]


async def test_start_payment_refusals_change_nothing(payments: PaymentsHarness):
    contractor = Actor(user_id="con-1", role=Role.CONTRACTOR)
    forbidden, forbidden_id = await payments.start_payment(1_000, escrow_id="e", payer=contractor)
    unsupported, unsupported_id = await payments.start_payment(1_000, escrow_id="e", currency="EUR")
    first, payment_id = await payments.start_payment(1_000, escrow_id="esc-twice")
    again, _ = await payments.start_payment(2_000, escrow_id="esc-twice", payment_id=payment_id)

    assert (forbidden.status, forbidden.reason_code) == ("rejected", "forbidden")
    assert (unsupported.status, unsupported.reason_code) == ("rejected", "unsupported_currency")
    assert first.accepted
    assert (again.status, again.reason_code) == ("rejected", "already_exists")
    assert await _status(payments, forbidden_id) == await _status(payments, unsupported_id) == 404
    assert (await payments.read(f"/payments/{payment_id}"))["amount"] == 1_000
    assert len(payments.events("payment-started", payment_id=payment_id)) == 1


async def _nothing_recorded(payments: PaymentsHarness, *payment_ids: str) -> None:
    # A later payment that is recorded proves the refused ones had their chance to be.
    await payments.sandbox.behave_well()
    marker = await payments.fund(1_000, escrow_id="esc-after")
    assert payments.events("payment-received", payment_id=marker)
    for payment_id in payment_ids:
        assert payments.events("payment-received", payment_id=payment_id) == []
        assert payments.events("payment-failed", payment_id=payment_id) == []
        assert (await payments.read(f"/payments/{payment_id}"))["status"] == "started"
    totals = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert totals["escrow-holding"] == 1_000  # only the marker's money


async def _status(payments: PaymentsHarness, payment_id: str) -> int:
    return (await payments.http.get(f"/payments/{payment_id}")).status_code
