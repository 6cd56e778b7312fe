"""What the escrow service's money decisions do here, over the real broker and database:
releases and settlements credit wallets and fees; refunds go back to the original payment."""

import pytest
from payments.testing.harness import PaymentsHarness, escrow_snapshot
from shared.contract.base import Actor, Role
from shared.contract.escrow import (
    EscrowRefunded,
    EscrowReleased,
    EscrowSettled,
    EscrowState,
    FundingRejected,
)
from shared.contract.payments import RetryRefund
from shared.contract.registry import dlq
from shared.testing.fixtures import eventually

pytestmark = pytest.mark.integration

ADMIN = Actor(user_id="ops-1", role=Role.ADMIN)


async def _funded(payments: PaymentsHarness, escrow_id: str, amount: int) -> str:
    return await payments.fund(amount, escrow_id=escrow_id)


def released(escrow_id: str, payment_id: str, version: int, gross: int, fee: int) -> EscrowReleased:
    snapshot = escrow_snapshot(escrow_id, version=version, amount=gross, payment_id=payment_id)
    return EscrowReleased(escrow=snapshot, gross=gross, fee=fee, net=gross - fee)


async def test_releases_credit_the_contractor_net_and_the_platform_fee_once(
    payments: PaymentsHarness,
):
    payment_id = await _funded(payments, "esc-r", 100_000)
    first = released("esc-r", payment_id, version=3, gross=60_000, fee=6_000)

    for _ in range(3):  # each publish is a new CloudEvent id: only the escrow version dedups
        await payments.publish(first)
    await payments.publish(released("esc-r", payment_id, version=4, gross=40_000, fee=4_000))

    await eventually(lambda: _balance_is(payments, "con-1", 90_000))
    wallet = await payments.read("/wallets/con-1")
    assert [e["amount"] for e in wallet["entries"]] == [36_000, 54_000]
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert accounts == {
        "gateway-clearing": -100_000,
        "escrow-holding": 0,
        "wallet": 90_000,
        "platform:fees": 10_000,
    }


async def test_a_release_of_money_never_received_is_dead_lettered_and_credits_nothing(
    payments: PaymentsHarness,
):
    await payments.publish(released("esc-ghost", "pay-ghost", version=3, gross=9_000, fee=900))

    dead = await payments.client.watcher.wait_for(
        lambda: payments.client.watcher.on(dlq("escrow-released"))
    )
    assert dict(dead[0].headers)["x-dlq-reason"] == b"handler_failed"
    assert await payments.balance("con-1") == 0


async def test_funding_rejected_is_refunded_in_full(payments: PaymentsHarness):
    payment_id = await _funded(payments, "esc-rej", 75_000)

    await payments.publish(
        FundingRejected(
            payment_id=payment_id,
            escrow_id="esc-rej",
            amount=75_000,
            currency="IRR",
            reason_code="already_funded",
        )
    )

    completed = await payments.wait_event("refund-completed", payment_id=payment_id)
    assert (completed["cause"], completed["amount"], completed["employer_id"]) == (
        "funding_rejected",
        75_000,
        "emp-1",
    )
    refund = await payments.read(f"/refunds/{completed['refund_id']}")
    assert refund["status"] == "completed"
    sandbox_refund = payments.sandbox.state.refunds[completed["refund_id"]]
    assert (sandbox_refund.status, sandbox_refund.amount) == ("completed", 75_000)
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert accounts == {"gateway-clearing": 0, "escrow-holding": 0, "refunds-in-flight": 0}


async def test_an_escrow_refund_goes_back_to_the_original_payment(payments: PaymentsHarness):
    payment_id = await _funded(payments, "esc-back", 30_000)
    snapshot = escrow_snapshot(
        "esc-back", version=3, amount=30_000, payment_id=payment_id, state=EscrowState.REFUNDED
    )

    await payments.publish(EscrowRefunded(escrow=snapshot, amount=30_000))

    completed = await payments.wait_event("refund-completed", payment_id=payment_id)
    assert (completed["cause"], completed["escrow_id"]) == ("escrow_refunded", "esc-back")
    token = payments.sandbox.state.refunds[completed["refund_id"]].destination
    assert payments.sandbox.state.payments[token].refunded == 30_000


async def test_a_settlement_pays_the_contractor_and_refunds_the_employer_share(
    payments: PaymentsHarness,
):
    payment_id = await _funded(payments, "esc-s", 100_000)
    snapshot = escrow_snapshot(
        "esc-s", version=5, amount=100_000, payment_id=payment_id, state=EscrowState.SETTLED
    )

    await payments.publish(
        EscrowSettled(
            escrow=snapshot,
            dispute_id="d-1",
            verdict_kind="arbiter",
            contractor_amount=70_000,
            fee=7_000,
            contractor_net=63_000,
            employer_amount=30_000,
        )
    )

    completed = await payments.wait_event("refund-completed", payment_id=payment_id)
    assert (completed["cause"], completed["amount"]) == ("escrow_settled", 30_000)
    assert await payments.balance("con-1") == 63_000
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert (accounts["platform:fees"], accounts["gateway-clearing"]) == (7_000, -70_000)


async def test_a_refund_that_keeps_failing_is_announced_then_retried_by_an_operator(
    payments: PaymentsHarness,
):
    payment_id = await _funded(payments, "esc-stuck", 20_000)
    await payments.sandbox.behave(always_fail_refunds=True)
    await payments.publish(
        FundingRejected(
            payment_id=payment_id,
            escrow_id="esc-stuck",
            amount=20_000,
            currency="IRR",
            reason_code="amount_mismatch",
        )
    )

    failed = await payments.wait_event("refund-failed", payment_id=payment_id)
    assert failed["attempts"] == 3
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert accounts["refunds-in-flight"] == 20_000  # never dropped: still on its way back

    refused = await payments.client.execute(
        RetryRefund(actor=Actor(user_id="emp-1", role=Role.EMPLOYER), refund_id=failed["refund_id"])
    )
    await payments.sandbox.behave_well()
    retried = await payments.client.execute(RetryRefund(actor=ADMIN, refund_id=failed["refund_id"]))
    unknown = await payments.client.execute(RetryRefund(actor=ADMIN, refund_id="refund:nope"))

    assert (refused.status, refused.reason_code) == ("rejected", "forbidden")
    assert retried.accepted
    assert (unknown.status, unknown.reason_code) == ("rejected", "not_found")
    await payments.wait_event("refund-completed", refund_id=failed["refund_id"])
    again = await payments.client.execute(RetryRefund(actor=ADMIN, refund_id=failed["refund_id"]))
    assert (again.status, again.reason_code) == ("rejected", "invalid_state")


async def _balance_is(payments: PaymentsHarness, user_id: str, amount: int) -> bool:
    return await payments.balance(user_id) == amount
