"""No payment left open (issue 13 point 2), over the real broker and database: a payment whose
callback never comes is asked of its gateway and settled as the gateway says, and one the payer
may still pay is asked again until he does."""

import pytest

pytestmark = pytest.mark.integration

#: inquire soon and often, so a test waits a fraction of a second for what takes minutes live
SOON = {"payment_inquiry_after_s": 0.2, "payment_inquiry_every_s": 0.2}


async def test_a_paid_payment_whose_callback_never_came_is_received(start_payments):
    async with start_payments(**SOON) as payments:
        await payments.sandbox.behave(send_callbacks=False)  # the payer closed the browser
        _, payment_id = await payments.start_payment(90_000, escrow_id="esc-lost-callback")

        answer = await payments.pay(payment_id)

        assert answer["callbacks"] == []
        received = await payments.wait_event("payment-received", payment_id=payment_id)
        assert (received["escrow_id"], received["amount"]) == ("esc-lost-callback", 90_000)
        assert (await payments.read(f"/payments/{payment_id}"))["status"] == "received"
        assert await payments.ledger_problems() == []


async def test_a_payment_the_payer_abandoned_is_failed(start_payments):
    async with start_payments(**SOON) as payments:
        await payments.sandbox.behave(send_callbacks=False)
        _, payment_id = await payments.start_payment(15_000, escrow_id="esc-abandoned")

        await payments.pay(payment_id, outcome="failed")

        failed = await payments.wait_event("payment-failed", payment_id=payment_id)
        assert failed["escrow_id"] == "esc-abandoned"
        assert payments.events("payment-received", payment_id=payment_id) == []


async def test_a_payment_still_at_the_bank_is_asked_again_until_it_is_paid(start_payments):
    async with start_payments(**SOON) as payments:
        await payments.sandbox.behave(send_callbacks=False)
        _, payment_id = await payments.start_payment(33_000, escrow_id="esc-slow-payer")
        await payments.wait_event("payment-started", payment_id=payment_id)
        # a marker payment settled by inquiry: rounds have run while the first was pending
        marker = await payments.fund(1_000, escrow_id="esc-marker")
        assert (await payments.read(f"/payments/{payment_id}"))["status"] == "started"

        await payments.pay(payment_id)

        await payments.wait_event("payment-received", payment_id=payment_id)
        assert len(payments.events("payment-received", payment_id=payment_id)) == 1
        assert len(payments.events("payment-received", payment_id=marker)) == 1


async def test_a_callback_and_an_inquiry_that_race_settle_the_payment_once(start_payments):
    async with start_payments(**SOON) as payments:
        await payments.sandbox.behave(callback_delay_ms=600)  # the inquiry comes first
        _, payment_id = await payments.start_payment(21_000, escrow_id="esc-race")

        await payments.pay(payment_id)

        await payments.wait_event("payment-received", payment_id=payment_id)
        marker = await payments.fund(1_000, escrow_id="esc-race-marker")
        assert len(payments.events("payment-received", payment_id=marker)) == 1
        assert len(payments.events("payment-received", payment_id=payment_id)) == 1
        totals = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
        assert totals["escrow-holding"] == 22_000
