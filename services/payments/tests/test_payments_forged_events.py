"""Forged escrow decisions move no money (issue 12 point 4): a forged `escrow-released` once
credited an outsider's wallet with 4,000,000 IRR and his payout completed; a forged
`funding-rejected` refunded an employer while the escrow stayed funded. Payments takes them only
from the escrow service, signed with its key; a forgery is dead-lettered with its reason."""

import pytest
from payments.testing.harness import PaymentsHarness, escrow_snapshot
from shared.contract.escrow import EscrowReleased, FundingRejected
from shared.contract.registry import dlq
from shared.testing.events import forgeries
from shared.testing.fixtures import eventually

pytestmark = pytest.mark.integration


async def dead_letters_for(payments: PaymentsHarness, topic: str, count: int) -> list:
    watcher = payments.client.watcher
    return await watcher.wait_for(
        lambda: len(watcher.on(dlq(topic))) >= count and watcher.on(dlq(topic))
    )


async def test_forged_releases_credit_no_wallet(payments: PaymentsHarness):
    """Every kind of forgery, one after the other on the escrow's key, then the genuine one."""
    payment_id = await payments.fund(4_000_000, escrow_id="esc-f")
    snapshot = escrow_snapshot("esc-f", version=3, amount=4_000_000, payment_id=payment_id)
    release = EscrowReleased(escrow=snapshot, gross=4_000_000, fee=0, net=4_000_000)
    forged = forgeries(release)
    for envelope, _ in forged.values():
        await payments.client.publish(release.TOPIC, envelope.encode(), key=release.kafka_key())

    dead = await dead_letters_for(payments, "escrow-released", len(forged))
    reasons = [dict(record.headers)["x-dlq-reason"].decode() for record in dead]
    assert reasons == [reason for _, reason in forged.values()]
    assert await payments.balance("con-1") == 0
    # the genuine release, behind the forgeries on its key, credits the contractor
    await payments.publish(release)
    await eventually(lambda: _balance_is(payments, "con-1", 4_000_000))


async def test_a_forged_funding_rejection_refunds_nothing(payments: PaymentsHarness):
    payment_id = await payments.fund(300_000, escrow_id="esc-g")
    rejection = FundingRejected(
        payment_id=payment_id,
        escrow_id="esc-g",
        amount=300_000,
        currency="IRR",
        reason_code="already_funded",
    )
    forged = [
        forgeries(rejection)[kind] for kind in ("unsigned", "signed by the marketplace as itself")
    ]
    for envelope, _ in forged:
        await payments.client.publish(rejection.TOPIC, envelope.encode(), key=rejection.kafka_key())

    dead = await dead_letters_for(payments, "funding-rejected", len(forged))
    reasons = [dict(record.headers)["x-dlq-reason"].decode() for record in dead]
    assert reasons == [reason for _, reason in forged]
    assert payments.events("refund-completed") == []
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert accounts["escrow-holding"] == 300_000


async def _balance_is(payments: PaymentsHarness, user_id: str, amount: int) -> bool:
    return await payments.balance(user_id) == amount
