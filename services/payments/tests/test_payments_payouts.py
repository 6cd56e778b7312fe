"""Payouts over the real broker and database: wallet money to a Sheba number through the sandbox,
with bounded retries by the background worker; the wallet never pays what it does not hold."""

import pytest
from payments.domain.iban import from_bban
from payments.testing.harness import PaymentsHarness
from prometheus_client import REGISTRY
from shared.contract.base import Actor, Role
from shared.contract.payments import RequestPayout
from shared.testing.fixtures import eventually

pytestmark = pytest.mark.integration

CONTRACTOR = Actor(user_id="con-7", role=Role.CONTRACTOR)
SHEBA = from_bban("IR", "0120000000001234567890")


def payout(payout_id: str, amount: int, iban: str = SHEBA, actor: Actor = CONTRACTOR):
    return RequestPayout(actor=actor, payout_id=payout_id, amount=amount, currency="IRR", iban=iban)


async def _earned(payments: PaymentsHarness, amount: int) -> None:
    await payments.fund(amount, payee_id=CONTRACTOR.user_id)


async def test_a_payout_that_fails_twice_then_succeeds_completes_once(payments: PaymentsHarness):
    await _earned(payments, 100_000)
    await payments.sandbox.behave(fail_payouts=2)
    before = _metrics()

    result = await payments.client.execute(payout("po-1", 60_000))

    assert result.accepted and result.aggregate_id == "po-1"
    completed = await payments.wait_event("payout-completed", payout_id="po-1")
    assert completed["iban_masked"] == SHEBA[:4] + "*" * 18 + SHEBA[-4:]
    assert payments.sandbox.state.payouts["po-1"].attempts == 3
    assert await payments.balance(CONTRACTOR.user_id) == 40_000
    assert (await payments.read("/payouts/po-1"))["status"] == "completed"
    await payments.fund(1_000, payee_id="someone-else")  # a later message, to see no repeat
    assert len(payments.events("payout-completed", payout_id="po-1")) == 1
    assert payments.events("payout-failed", payout_id="po-1") == []
    after = _metrics()
    assert after["completed"] - before["completed"] == 1
    assert after["completed_amount"] - before["completed_amount"] == 60_000
    assert after["gateway_errors"] - before["gateway_errors"] == 2
    accounts = (await payments.read("/ledger/totals"))["currencies"]["IRR"]["accounts"]
    assert accounts["payouts-in-flight"] == 0
    assert accounts["gateway-clearing"] == -(100_000 + 1_000 - 60_000)


async def test_a_payout_that_always_fails_ends_failed_with_the_wallet_restored(
    payments: PaymentsHarness,
):
    await _earned(payments, 80_000)
    await payments.sandbox.behave(always_fail_payouts=True)

    result = await payments.client.execute(payout("po-2", 80_000))

    assert result.accepted
    failed = await payments.wait_event("payout-failed", payout_id="po-2")
    assert failed["attempts"] == 3  # the test settings' budget
    assert await payments.balance(CONTRACTOR.user_id) == 80_000
    assert payments.sandbox.state.payouts["po-2"].status == "pending"  # never paid out
    kinds = [e["kind"] for e in (await payments.read(f"/wallets/{CONTRACTOR.user_id}"))["entries"]]
    assert kinds == ["payout_returned", "payout_requested", "direct_payment"]


async def test_an_unknown_outcome_is_retried_until_the_gateway_answers(payments: PaymentsHarness):
    await _earned(payments, 50_000)
    # An outage beyond the retry budget: the money may have left, so it is never handed back.
    await payments.sandbox.behave(fail_payouts=5, failure="outage")

    await payments.client.execute(payout("po-3", 50_000))

    await payments.wait_event("payout-completed", payout_id="po-3")
    assert payments.events("payout-failed", payout_id="po-3") == []
    assert payments.sandbox.state.payouts["po-3"].attempts == 6
    assert await payments.balance(CONTRACTOR.user_id) == 0


async def test_a_payout_above_the_balance_is_rejected(payments: PaymentsHarness):
    await _earned(payments, 10_000)

    above = await payments.client.execute(payout("po-4", 10_001))
    first = await payments.client.execute(payout("po-5a", 7_000))
    second = await payments.client.execute(payout("po-5b", 7_000))  # the same balance again

    assert (above.status, above.reason_code) == ("rejected", "insufficient_funds")
    assert first.accepted
    assert (second.status, second.reason_code) == ("rejected", "insufficient_funds")
    await payments.wait_event("payout-completed", payout_id="po-5a")
    assert await payments.balance(CONTRACTOR.user_id) == 3_000
    assert (await payments.http.get("/payouts/po-4")).status_code == 404
    assert set(payments.sandbox.state.payouts) == {"po-5a"}


async def test_payout_refusals(payments: PaymentsHarness):
    await _earned(payments, 5_000)
    typo = SHEBA[:-1] + str((int(SHEBA[-1]) + 1) % 10)
    short = from_bban("IR", "012000000000123456789")
    employer = Actor(user_id="con-7", role=Role.EMPLOYER)
    cases = [
        (payout("po-typo", 1_000, iban=typo), "invalid_iban"),
        (payout("po-short", 1_000, iban=short), "invalid_iban"),
        (payout("po-emp", 1_000, actor=employer), "forbidden"),
        (payout("po-eur", 1_000).model_copy(update={"currency": "EUR"}), "unsupported_currency"),
    ]
    for command, reason in cases:
        result = await payments.client.execute(command)
        assert (result.status, result.reason_code) == ("rejected", reason), command.payout_id
    assert await payments.balance(CONTRACTOR.user_id) == 5_000
    assert payments.sandbox.state.payouts == {}


async def test_a_pending_payout_survives_a_restart(start_payments, sandbox):
    await sandbox.behave(always_fail_payouts=True, failure="outage")
    # A stop may cut an attempt short; its lease (short here) lets the next process take over.
    async with start_payments(transfer_lease_s=0.5) as first:
        await _earned(first, 30_000)
        assert (await first.client.execute(payout("po-6", 30_000))).accepted
        await eventually(lambda: _attempted(sandbox, "po-6", times=2))
    await sandbox.behave_well()
    async with start_payments(transfer_lease_s=0.5) as second:
        await second.wait_event("payout-completed", payout_id="po-6")
        assert await second.balance(CONTRACTOR.user_id) == 0
        assert await second.ledger_problems() == []


def _metrics() -> dict[str, float]:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    return {
        "completed": sample("escrow_suite_payouts_total", status="completed", currency="IRR"),
        "completed_amount": sample(
            "escrow_suite_payout_amount_total", status="completed", currency="IRR"
        ),
        "gateway_errors": sample(
            "escrow_suite_gateway_errors_total", gateway="sandbox", operation="payout"
        ),
    }


async def _attempted(sandbox, payout_id: str, times: int) -> bool:
    found = sandbox.state.payouts.get(payout_id)
    return found is not None and found.attempts >= times


async def test_the_workers_wake_for_new_and_retried_transfers_not_at_the_next_poll(
    start_payments, sandbox
):
    """With an hour between the workers' safety rounds, a requested payout is attempted at once
    (its commit rings the worker) and its retry at the due time the failed attempt set; a
    worker that only polled would sleep the hour."""
    await sandbox.behave(fail_payouts=1)
    async with start_payments(worker_max_idle_ms=3_600_000) as payments:
        await _earned(payments, 20_000)
        assert (await payments.client.execute(payout("po-wake", 20_000))).accepted
        await payments.wait_event("payout-completed", payout_id="po-wake")
        assert sandbox.state.payouts["po-wake"].attempts == 2
