"""The payments domain without broker or database: IBAN checksums, the balanced ledger, the
payment's settlement rules, payouts and refunds with their retry budgets."""

from datetime import UTC, datetime, timedelta

import pytest
from payments.domain import escrow_money, ledger
from payments.domain.errors import (
    CallbackMismatch,
    Forbidden,
    InsufficientFunds,
    InvalidIban,
    InvalidState,
    LedgerInconsistency,
    UnsupportedCurrency,
)
from payments.domain.gateway import CallbackClaim, GatewaySession, Verification
from payments.domain.iban import check_iban, from_bban, is_valid, mask
from payments.domain.payment import Payment, PaymentStatus
from payments.domain.payout import Payout
from payments.domain.refund import Refund
from payments.domain.retry import RetrySchedule
from payments.domain.transfer import TransferStatus
from shared.contract.base import Actor, Role
from shared.contract.payments import (
    PaymentFailed,
    PaymentPurpose,
    PaymentReceived,
    PayoutCompleted,
    PayoutFailed,
    RefundCompleted,
    RefundFailed,
    RequestPayout,
    StartPayment,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SHEBA = "IR062960000000100324200001"  # a published example Sheba number
SCHEDULE = RetrySchedule(3, timedelta(seconds=1), timedelta(seconds=10))
EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
CONTRACTOR = Actor(user_id="con-1", role=Role.CONTRACTOR)


# --- IBAN / Sheba -------------------------------------------------------------------------


def test_a_published_sheba_and_a_german_iban_pass_the_checksum():
    assert is_valid(SHEBA)
    assert is_valid("DE89370400440532013000")
    assert check_iban("ir06 2960 0000 0010 0324 2000 01") == SHEBA


@pytest.mark.parametrize("position", range(4, 26))
def test_every_single_digit_typo_in_a_sheba_is_caught(position):
    digit = SHEBA[position]
    typo = SHEBA[:position] + str((int(digit) + 1) % 10) + SHEBA[position + 1 :]
    assert not is_valid(typo)


@pytest.mark.parametrize(
    "bad", ["IR0629600000001003242000", "IR06296000000010032420000A", "XX", "IR06" + "0" * 22]
)
def test_malformed_ibans_are_refused(bad):
    with pytest.raises(InvalidIban):
        check_iban(bad)


def test_check_digits_are_computed_and_the_number_masked():
    iban = from_bban("IR", "0120000000001234567890")
    assert is_valid(iban) and iban.startswith("IR")
    assert mask(iban) == iban[:4] + "*" * 18 + iban[-4:]


# --- the ledger ---------------------------------------------------------------------------


def test_a_transaction_must_balance_in_every_currency():
    with pytest.raises(ValueError, match="does not balance"):
        ledger.Transaction("k", ledger.TransactionKind.RELEASE, (ledger.Entry("a", "IRR", 5),))
    with pytest.raises(ValueError, match="does not balance"):
        ledger.Transaction(
            "k",
            ledger.TransactionKind.RELEASE,
            (ledger.Entry("a", "IRR", 5), ledger.Entry("b", "USD", -5)),
        )
    with pytest.raises(ValueError, match="int"):
        ledger.Transaction(
            "k",
            ledger.TransactionKind.RELEASE,
            (ledger.Entry("a", "IRR", 5.0), ledger.Entry("b", "IRR", -5)),  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="at least one"):
        ledger.Transaction("k", ledger.TransactionKind.RELEASE, ())


def test_a_release_splits_gross_into_net_and_fee_and_checks_the_split():
    tx = escrow_money.release("e1", 3, "con-1", "IRR", (1_000, 100, 900))
    assert {e.account: e.amount for e in tx.entries} == {
        "escrow-holding:e1": -1_000,
        "wallet:con-1": 900,
        "platform:fees": 100,
    }
    assert tx.outflows() == {("escrow-holding:e1", "IRR"): 1_000}
    with pytest.raises(LedgerInconsistency):
        escrow_money.release("e1", 3, "con-1", "IRR", (1_000, 100, 901))


def test_a_settlement_without_employer_share_has_no_refund_leg():
    tx = escrow_money.settlement("e1", 4, "con-1", "IRR", (1_000, 100, 900), 0)
    assert ledger.REFUNDS_IN_FLIGHT not in {e.account for e in tx.entries}
    assert ledger.may_go_negative(ledger.GATEWAY_CLEARING)
    assert not ledger.may_go_negative("wallet:con-1")


# --- payments -----------------------------------------------------------------------------


OPENED = NOW
AFTER = timedelta(minutes=15)


def start(purpose=PaymentPurpose.ESCROW, actor=EMPLOYER, currency="IRR") -> Payment:
    command = StartPayment(
        actor=actor,
        payment_id="pay-1",
        purpose=purpose,
        amount=5_000,
        currency=currency,
        escrow_id="esc-1" if purpose is PaymentPurpose.ESCROW else None,
        payee_id="con-1" if purpose is PaymentPurpose.DIRECT else None,
    )
    payment = Payment.start(command, "sandbox", {"IRR"})
    payment.opened(GatewaySession("tok-1", "https://psp/pay/tok-1"), inquire_at=OPENED + AFTER)
    return payment


def paid(amount=5_000, **kw) -> Verification:
    return Verification(
        **{
            "token": "tok-1",
            "status": "paid",
            "amount": amount,
            "currency": "IRR",
            "order_id": "pay-1",
            "reference": "ref-1",
            **kw,
        }
    )


def test_only_employers_pay_in_accepted_currencies():
    with pytest.raises(Forbidden):
        start(actor=CONTRACTOR)
    with pytest.raises(UnsupportedCurrency):
        start(currency="USD")


def test_a_verified_escrow_payment_is_held_for_the_escrow_once():
    payment = start()
    (tx,) = payment.settle(paid())
    assert payment.status is PaymentStatus.RECEIVED
    assert {e.account: e.amount for e in tx.entries} == {
        "gateway-clearing": -5_000,
        "escrow-holding:esc-1": 5_000,
    }
    assert isinstance(payment.events[-1], PaymentReceived) and payment.events[-1].guaranteed
    assert payment.settle(paid()) == []  # a repeat changes nothing
    assert len(payment.events) == 2


def test_a_direct_payment_goes_to_the_payee_without_guarantee():
    payment = start(PaymentPurpose.DIRECT)
    (tx,) = payment.settle(paid())
    assert ("wallet:con-1", 5_000) in {(e.account, e.amount) for e in tx.entries}
    assert payment.events[-1].guaranteed is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "verification",
    [
        paid(amount=4_999),
        paid(currency="USD"),
        paid(order_id="pay-2"),
        paid(token="tok-2"),
        Verification("tok-1", "pending"),
    ],
)
def test_a_verification_that_disagrees_records_nothing(verification):
    payment = start()
    with pytest.raises(CallbackMismatch):
        payment.settle(verification)
    assert payment.status is PaymentStatus.STARTED and len(payment.events) == 1


def test_a_failure_is_recorded_unless_the_callback_claims_paid():
    claimed_paid = start()
    with pytest.raises(CallbackMismatch):
        claimed_paid.settle(Verification("tok-1", "failed"), CallbackClaim("tok-1", "paid"))
    payment = start()
    assert payment.settle(Verification("tok-1", "failed"), CallbackClaim("tok-1", "failed")) == []
    assert payment.status is PaymentStatus.FAILED
    assert isinstance(payment.events[-1], PaymentFailed)


def test_the_gateways_fee_is_booked_beside_the_arrival_and_the_books_balance():
    payment = start()
    arrival, fee = payment.settle(paid(fee=120))
    assert {e.account: e.amount for e in arrival.entries} == {
        "gateway-clearing": -5_000,
        "escrow-holding:esc-1": 5_000,  # the escrow is funded with the whole amount
    }
    assert fee.kind is ledger.TransactionKind.GATEWAY_FEE
    assert {e.account: e.amount for e in fee.entries} == {
        "gateway-clearing": 120,  # 4,880 is at the gateway, not 5,000
        "gateway-fees": -120,  # the platform bears the fee
    }
    assert payment.fee == 120 and ledger.may_go_negative(ledger.GATEWAY_FEES)


@pytest.mark.parametrize("fee", [-1, 5_001, True])
def test_a_fee_outside_the_amount_records_nothing(fee):
    payment = start()
    with pytest.raises(CallbackMismatch):
        payment.settle(paid(fee=fee))
    assert payment.status is PaymentStatus.STARTED and payment.fee == 0


def test_an_inquiry_settles_what_the_gateway_settled_and_asks_again_otherwise():
    payment = start()
    assert payment.next_inquiry_at == OPENED + AFTER
    later = OPENED + AFTER
    assert payment.inquired(Verification("tok-1", "pending"), now=later, again_after=AFTER) == []
    assert payment.status is PaymentStatus.STARTED and payment.next_inquiry_at == later + AFTER
    (tx,) = payment.inquired(paid(), now=later, again_after=AFTER)
    assert payment.status is PaymentStatus.RECEIVED and payment.next_inquiry_at is None
    assert tx.key == "payment:pay-1"
    abandoned = start()
    assert abandoned.inquired(Verification("tok-1", "failed"), now=later, again_after=AFTER) == []
    assert abandoned.status is PaymentStatus.FAILED and abandoned.next_inquiry_at is None


def test_a_callback_claiming_another_amount_is_refused():
    with pytest.raises(CallbackMismatch):
        start().check_claim(CallbackClaim("tok-1", "paid", amount=1))


# --- payouts and refunds ------------------------------------------------------------------


def payout_request(amount=1_000, actor=CONTRACTOR, iban=SHEBA) -> RequestPayout:
    return RequestPayout(actor=actor, payout_id="po-1", amount=amount, currency="IRR", iban=iban)


def test_a_payout_never_exceeds_the_balance_and_is_only_for_contractors():
    with pytest.raises(InsufficientFunds):
        Payout.request(payout_request(1_001), balance=1_000, gateway="sandbox")
    with pytest.raises(Forbidden):
        Payout.request(payout_request(actor=EMPLOYER), balance=5_000, gateway="sandbox")
    _, tx = Payout.request(payout_request(1_000), balance=1_000, gateway="sandbox")
    assert {e.account: e.amount for e in tx.entries} == {
        "wallet:con-1": -1_000,
        "payouts-in-flight": 1_000,
    }


def test_declined_payouts_back_off_then_return_the_money_after_the_budget():
    payout, _ = Payout.request(payout_request(), balance=1_000, gateway="sandbox")
    delays = []
    for _ in range(2):
        payout.claim(NOW, timedelta(minutes=1))
        assert payout.attempt_failed("no", definitive=True, now=NOW, schedule=SCHEDULE) is None
        delays.append(payout.next_attempt_at - NOW)  # type: ignore[operator]
    payout.claim(NOW, timedelta(minutes=1))
    returned = payout.attempt_failed("no", definitive=True, now=NOW, schedule=SCHEDULE)
    assert delays == [timedelta(seconds=1), timedelta(seconds=2)]
    assert payout.status is TransferStatus.FAILED and isinstance(payout.events[-1], PayoutFailed)
    assert returned is not None and ("wallet:con-1", 1_000) in {
        (e.account, e.amount) for e in returned.entries
    }


def test_a_payout_with_an_unknown_outcome_is_never_given_back():
    payout, _ = Payout.request(payout_request(), balance=1_000, gateway="sandbox")
    for _ in range(10):
        payout.claim(NOW, timedelta(minutes=1))
        assert (
            payout.attempt_failed("timeout", definitive=False, now=NOW, schedule=SCHEDULE) is None
        )
    assert payout.status is TransferStatus.PENDING
    assert payout.next_attempt_at == NOW + SCHEDULE.max_delay
    payout.claim(NOW, timedelta(minutes=1))
    completed = payout.succeeded("ref")
    assert isinstance(payout.events[-1], PayoutCompleted)
    assert {e.account for e in completed.entries} == {"payouts-in-flight", "gateway-clearing"}


def refund() -> Refund:
    return Refund(
        refund_id="r-1",
        payment_id="pay-1",
        employer_id="emp-1",
        amount=700,
        currency="IRR",
        cause="funding_rejected",
        escrow_id="esc-1",
        payment_gateway="sandbox",
        payment_token="tok-1",
        next_attempt_at=NOW,
    )


def test_a_refund_gives_up_loudly_keeps_its_money_in_flight_and_can_be_retried():
    r = refund()
    with pytest.raises(InvalidState):
        r.retry_by_operator(NOW)
    for _ in range(3):
        r.claim(NOW, timedelta(minutes=1))
        assert r.attempt_failed("down", definitive=False, now=NOW, schedule=SCHEDULE) is None
    assert r.status is TransferStatus.FAILED and isinstance(r.events[-1], RefundFailed)
    r.retry_by_operator(NOW + timedelta(hours=1))
    assert (r.status, r.attempts, r.next_attempt_at) == (
        TransferStatus.PENDING,
        0,
        NOW + timedelta(hours=1),
    )


def test_a_transfer_under_way_at_the_psp_is_polled_without_spending_its_attempts():
    r = refund()
    poll = timedelta(minutes=5)
    for _ in range(10):  # far more rounds than the budget of 3 attempts
        r.claim(NOW, timedelta(minutes=1))
        r.in_progress("PAYA cycle", now=NOW, poll_delay=poll)
    assert (r.status, r.polls, r.next_attempt_at) == (TransferStatus.PENDING, 10, NOW + poll)
    assert r.last_error == "under way at the gateway: PAYA cycle"
    r.claim(NOW, timedelta(minutes=1))
    # the first failed attempt after the polls: backed off as a first failure, not given up
    assert r.attempt_failed("down", definitive=False, now=NOW, schedule=SCHEDULE) is None
    assert r.status is TransferStatus.PENDING and r.next_attempt_at == NOW + timedelta(seconds=1)
    r.claim(NOW, timedelta(minutes=1))
    r.succeeded("re-1")
    assert r.status is TransferStatus.COMPLETED and isinstance(r.events[-1], RefundCompleted)


def test_the_retry_schedule_is_exponential_and_capped():
    schedule = RetrySchedule(5, timedelta(milliseconds=100), timedelta(seconds=1))
    delays = [schedule.delay_after(n) for n in range(1, 7)]
    assert delays == [timedelta(milliseconds=ms) for ms in (100, 200, 400, 800, 1000, 1000)]
    assert schedule.exhausted(5) and not schedule.exhausted(4)
