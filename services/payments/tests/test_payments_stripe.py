"""The Stripe adapter over HTTP, through the official SDK, against a local server that answers as
Stripe's API reference shows: Checkout sessions, signed webhooks and the payer's return, verify
(paid with fee, expired, open, async), refunds (pending → succeeded, found again rather than
made twice), Connect transfers and payouts (in transit → paid; failed → transfer reversed), and
each class of Stripe error mapped to declined (nothing moved) or unavailable (unknown)."""

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from payments.adapters.gateways.port import IncomingCallback
from payments.adapters.gateways.stripe import StripeGateway
from payments.domain.errors import CallbackMismatch, CallbackRejected, ForgedCallback
from payments.domain.gateway import (
    GatewayDeclined,
    GatewayUnavailable,
    PaymentRequest,
    Settled,
    Transfer,
    TransferInProgress,
    UnsupportedByGateway,
)
from payments.testing.fake_stripe import FakeStripe
from shared.testing.servers import serving

API_KEY = "sk_test_51Fake"
SECRET = "whsec_fake_endpoint_secret"
ACCOUNT = "acct_1Contractor"
CALLBACK = "http://shop.example/callbacks/stripe"
IBAN = "DE89370400440532013000"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeStripe, str]]:
    stripe = FakeStripe(API_KEY, SECRET, accounts={ACCOUNT: 0})
    async with serving(stripe.app()) as url:
        yield stripe, url


@pytest.fixture
async def gateway(fake) -> AsyncIterator[StripeGateway]:
    adapter = StripeGateway(API_KEY, SECRET, api_url=fake[1], timeout=5)
    yield adapter
    await adapter.aclose()


def request(amount: int = 2_500, currency: str = "USD", payment_id: str = "pay-1"):
    return PaymentRequest(payment_id, amount, currency, "Logo design", CALLBACK)


async def paid_session(fake: FakeStripe, gateway: StripeGateway, **pay) -> tuple[str, str]:
    """A session the payer paid: its id and its PaymentIntent."""
    session = await gateway.open_payment(request())
    fake.pay(session.token, **pay)
    return session.token, fake.objects[session.token]["payment_intent"]


def webhook(body: bytes, headers: dict[str, str]) -> IncomingCallback:
    # the callback route lower-cases header names
    return IncomingCallback("POST", {}, {k.lower(): v for k, v in headers.items()}, body)


# --- payments in ---------------------------------------------------------------------------


async def test_a_payment_opens_a_checkout_session_with_the_documented_fields(fake, gateway):
    stripe, url = fake

    session = await gateway.open_payment(request())

    assert session.token.startswith("cs_")
    assert session.redirect_url == f"{url}/c/pay/{session.token}"
    (sent,) = stripe.posts("/v1/checkout/sessions")
    assert sent.idempotency_key == "checkout-pay-1"
    assert sent.params == {
        "mode": "payment",
        "line_items": [
            {
                "quantity": "1",
                "price_data": {
                    "currency": "usd",
                    "unit_amount": "2500",
                    "product_data": {"name": "Logo design"},
                },
            }
        ],
        "client_reference_id": "pay-1",
        "metadata": {"payment_id": "pay-1"},
        "payment_intent_data": {"metadata": {"payment_id": "pay-1"}},
        "success_url": f"{CALLBACK}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{CALLBACK}?session_id={{CHECKOUT_SESSION_ID}}&cancelled=1",
    }


async def test_opening_the_same_payment_again_gives_the_same_session(fake, gateway):
    stripe, _ = fake
    first = await gateway.open_payment(request())
    again = await gateway.open_payment(request())
    assert again == first
    assert len(stripe.of("checkout.session")) == 1


async def test_the_same_payment_id_with_another_amount_is_not_a_decline(fake, gateway):
    await gateway.open_payment(request(2_500))
    with pytest.raises(GatewayUnavailable, match="IdempotencyError"):
        await gateway.open_payment(request(2_600))


async def test_zero_decimal_amounts_go_unchanged_and_isk_is_refused(fake, gateway):
    stripe, _ = fake
    await gateway.open_payment(request(500, "JPY", payment_id="pay-jpy"))
    price = stripe.posts("/v1/checkout/sessions")[0].params["line_items"][0]["price_data"]
    assert (price["currency"], price["unit_amount"]) == ("jpy", "500")  # ¥500, not ¥5

    with pytest.raises(UnsupportedByGateway):
        await gateway.open_payment(request(500, "ISK", payment_id="pay-isk"))
    assert len(stripe.posts("/v1/checkout/sessions")) == 1


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("checkout.session.completed", "paid"),
        ("checkout.session.async_payment_succeeded", "paid"),
        ("checkout.session.async_payment_failed", "failed"),
        ("checkout.session.expired", "failed"),
    ],
)
async def test_a_signed_session_event_is_read(fake, gateway, event, status):
    stripe, _ = fake
    session = await gateway.open_payment(request())
    if status == "paid":
        stripe.pay(session.token)

    claim = gateway.read_callback(webhook(*stripe.signed_webhook(event, session.token)))

    assert (claim.token, claim.status) == (session.token, status)
    assert (claim.amount, claim.currency, claim.order_id) == (2_500, "USD", "pay-1")


async def test_a_completed_session_still_processing_claims_nothing_yet(fake, gateway):
    stripe, _ = fake
    token, _ = await paid_session(stripe, gateway, processing=True)
    body, headers = stripe.signed_webhook("checkout.session.completed", token)
    assert gateway.read_callback(webhook(body, headers)).status is None


async def test_a_webhook_with_a_wrong_signature_is_forged(fake, gateway):
    stripe, _ = fake
    token, _ = await paid_session(stripe, gateway)
    body, headers = stripe.signed_webhook("checkout.session.completed", token)
    _, other = stripe.signed_webhook(
        "checkout.session.completed", token, secret="whsec_someone_else"
    )

    with pytest.raises(ForgedCallback):
        gateway.read_callback(webhook(body, other))
    with pytest.raises(ForgedCallback):
        gateway.read_callback(webhook(body.replace(b"2500", b"9999"), headers))
    with pytest.raises(ForgedCallback):
        gateway.read_callback(IncomingCallback("POST", {}, {}, body))


async def test_a_webhook_signed_long_ago_is_refused_as_a_replay(fake, gateway):
    stripe, _ = fake
    session = await gateway.open_payment(request())
    stale = int(time.time()) - 3_600  # Stripe's tolerance is 300 s
    body, headers = stripe.signed_webhook(
        "checkout.session.completed", session.token, timestamp=stale
    )
    with pytest.raises(ForgedCallback, match="tolerance"):
        gateway.read_callback(webhook(body, headers))


async def test_other_event_types_are_refused_but_not_as_forged(fake, gateway):
    stripe, _ = fake
    session = await gateway.open_payment(request())
    body, headers = stripe.signed_webhook("payment_intent.created", session.token)
    with pytest.raises(CallbackRejected) as refused:
        gateway.read_callback(webhook(body, headers))
    assert not isinstance(refused.value, ForgedCallback)
    assert refused.value.status_code == 400


def test_the_payers_return_is_read_but_not_believed():
    adapter = StripeGateway(API_KEY, SECRET, api_url="http://unused")
    back = adapter.read_callback(IncomingCallback("GET", {"session_id": "cs_test_1"}, {}))
    cancelled = adapter.read_callback(
        IncomingCallback("GET", {"session_id": "cs_test_1", "cancelled": "1"}, {})
    )
    assert (back.token, back.status, back.amount) == ("cs_test_1", None, None)
    assert cancelled.status is None  # the session stays open: the payer may still pay
    with pytest.raises(CallbackRejected):
        adapter.read_callback(IncomingCallback("GET", {}, {}))


async def test_verify_confirms_a_paid_session_with_its_fee(fake, gateway):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway, fee=103)

    verification = await gateway.verify(token, 2_500, "USD")

    assert verification.status == "paid"
    assert verification.reference == intent and intent.startswith("pi_")
    assert (verification.amount, verification.currency, verification.order_id) == (
        2_500,
        "USD",
        "pay-1",
    )
    assert verification.fee == 103
    retrieve = [r for r in stripe.requests if r.method == "GET"][-1]
    assert retrieve.params == {"expand": ["payment_intent.latest_charge.balance_transaction"]}


async def test_a_fee_in_another_settlement_currency_is_not_booked(fake, gateway):
    stripe, _ = fake
    token, _ = await paid_session(stripe, gateway, fee=90, settled_in="EUR")
    verification = await gateway.verify(token, 2_500, "USD")
    assert (verification.status, verification.fee) == ("paid", 0)


async def test_an_expired_session_failed_and_an_open_one_is_pending(fake, gateway):
    stripe, _ = fake
    session = await gateway.open_payment(request())

    assert (await gateway.verify(session.token, 2_500, "USD")).status == "pending"
    assert (await gateway.inquire(session.token, 2_500, "USD")).status == "pending"
    stripe.expire(session.token)
    expired = await gateway.inquire(session.token, 2_500, "USD")

    assert (expired.status, expired.reference) == ("failed", None)


async def test_an_async_payment_is_pending_until_it_fails(fake, gateway):
    stripe, _ = fake
    token, _ = await paid_session(stripe, gateway, processing=True)

    assert (await gateway.verify(token, 2_500, "USD")).status == "pending"
    stripe.settle_async(token, succeeded=False)
    assert (await gateway.verify(token, 2_500, "USD")).status == "failed"


async def test_verify_of_a_session_stripe_does_not_know_is_a_mismatch(fake, gateway):
    with pytest.raises(CallbackMismatch):
        await gateway.verify("cs_test_unknown", 2_500, "USD")


async def test_stripe_keeps_no_list_of_unverified_sessions(gateway):
    assert await gateway.unverified() == []


# --- what Stripe settled (reconciliation) ---------------------------------------------------


def at(stripe: FakeStripe, session_id: str) -> datetime:
    return datetime.fromtimestamp(stripe.objects[session_id]["created"], UTC)


def session_lists(stripe: FakeStripe):
    return [r for r in stripe.requests if (r.method, r.path) == ("GET", "/v1/checkout/sessions")]


async def test_settled_lists_the_paid_sessions_of_the_window_page_by_page(fake, gateway):
    stripe, _ = fake
    before = await gateway.open_payment(request(payment_id="pay-before"))
    stripe.pay(before.token)
    opened = [
        await gateway.open_payment(request(1_000 + n, payment_id=f"pay-{n}")) for n in range(151)
    ]
    *paid, processing, _still_open = opened  # the last stays open
    for session in paid:
        stripe.pay(session.token)
    stripe.pay(processing.token, processing=True)  # complete, not paid yet
    after = await gateway.open_payment(request(payment_id="pay-after"))
    stripe.pay(after.token)

    listing = await gateway.settled(at(stripe, opened[0].token), at(stripe, after.token))

    assert (listing.complete, listing.truncated) == (True, False)
    assert sorted(listing.items, key=lambda s: s.amount) == [
        Settled(session.token, 1_000 + n, "USD") for n, session in enumerate(paid)
    ]
    first, second = session_lists(stripe)  # 150 complete sessions: two pages of at most 100
    assert first.params == {
        "created": {
            "gte": str(stripe.objects[opened[0].token]["created"]),
            "lt": str(stripe.objects[after.token]["created"]),
        },
        "status": "complete",
        "limit": "100",
    }
    # newest first: the first page ends with the 100th newest complete session
    assert second.params == {**first.params, "starting_after": paid[50].token}


async def test_settled_stops_at_its_bound_and_says_the_listing_is_cut(fake, gateway, monkeypatch):
    stripe, _ = fake
    monkeypatch.setattr("payments.adapters.gateways.stripe.SETTLED_MAX_ITEMS", 2)
    opened = [await gateway.open_payment(request(payment_id=f"pay-{n}")) for n in range(3)]
    for session in opened:
        stripe.pay(session.token)

    # the fake stamps objects a second apart at least: they may run ahead of the clock
    listing = await gateway.settled(at(stripe, opened[0].token), datetime(2100, 1, 1, tzinfo=UTC))

    assert (listing.complete, listing.truncated, len(listing.items)) == (False, True, 2)


async def test_a_listing_stripe_does_not_answer_is_unavailable(fake, gateway):
    stripe, _ = fake
    stripe.fail(500, "api_error", method="GET", path="/v1/checkout/sessions")
    with pytest.raises(GatewayUnavailable, match="list of checkout sessions"):
        await gateway.settled(datetime(2026, 1, 1, tzinfo=UTC), datetime.now(UTC))


# --- refunds -------------------------------------------------------------------------------


def refund_of(token: str, intent: str | None, amount: int = 1_000, transfer_id: str = "rf-1"):
    return Transfer(transfer_id, amount, "USD", token, payment_reference=intent)


async def pending_refund(fake: FakeStripe, gateway: StripeGateway) -> tuple[str, str]:
    """A paid session refunded once, the refund left pending: the session and its intent."""
    token, intent = await paid_session(fake, gateway)
    fake.refund_status = "pending"
    with pytest.raises(TransferInProgress):
        await gateway.refund(refund_of(token, intent))
    return token, intent


async def test_a_refund_is_sent_against_the_payment_intent(fake, gateway):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway)

    reference = await gateway.refund(refund_of(token, intent))

    assert reference.startswith("re_")
    (sent,) = stripe.posts("/v1/refunds")
    assert sent.idempotency_key == "refund-rf-1"
    assert sent.params == {
        "payment_intent": intent,
        "amount": "1000",
        "metadata": {"transfer_id": "rf-1"},
    }


async def test_a_refund_without_its_intent_finds_it_through_the_session(fake, gateway):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway)
    await gateway.refund(refund_of(token, None))
    assert stripe.posts("/v1/refunds")[0].params["payment_intent"] == intent


async def test_a_pending_refund_is_in_progress_until_it_succeeds(fake, gateway):
    stripe, _ = fake
    token, intent = await pending_refund(stripe, gateway)

    with pytest.raises(TransferInProgress):
        await gateway.refund(refund_of(token, intent))
    (refund,) = stripe.refunds
    stripe.settle_refund(refund["id"])
    reference = await gateway.refund(refund_of(token, intent))

    assert reference == refund["id"]
    assert len(stripe.posts("/v1/refunds")) == 1


async def test_the_same_refund_twice_refunds_once(fake, gateway):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway)
    first = await gateway.refund(refund_of(token, intent))
    again = await gateway.refund(refund_of(token, intent))
    assert again == first
    assert len(stripe.refunds) == 1


async def test_a_refund_whose_answer_was_lost_is_found_not_made_again(fake):
    stripe, url = fake
    impatient = StripeGateway(API_KEY, SECRET, api_url=url, timeout=0.3)
    token, intent = await paid_session(stripe, impatient)
    stripe.answer_late, stripe.slow_s = 1, 1.0

    with pytest.raises(GatewayUnavailable, match="APIConnectionError"):
        await impatient.refund(refund_of(token, intent))
    assert len(stripe.refunds) == 1  # Stripe made it; we never heard
    reference = await impatient.refund(refund_of(token, intent))

    assert reference == stripe.refunds[0]["id"]
    assert len(stripe.refunds) == 1
    await impatient.aclose()


async def test_a_refund_that_failed_is_declined(fake, gateway):
    stripe, _ = fake
    token, intent = await pending_refund(stripe, gateway)
    stripe.settle_refund(stripe.refunds[0]["id"], "failed")
    with pytest.raises(GatewayDeclined, match="failed"):
        await gateway.refund(refund_of(token, intent))


async def test_refunding_more_than_was_paid_is_declined(fake, gateway):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway)
    with pytest.raises(GatewayDeclined, match="amount_too_large"):
        await gateway.refund(refund_of(token, intent, amount=2_501))
    await gateway.refund(refund_of(token, intent, amount=2_500, transfer_id="rf-all"))
    with pytest.raises(GatewayDeclined, match="charge_already_refunded"):
        await gateway.refund(refund_of(token, intent, amount=1, transfer_id="rf-more"))


async def test_refunding_a_session_never_paid_is_declined(fake, gateway):
    session = await gateway.open_payment(request())
    with pytest.raises(GatewayDeclined, match="never paid"):
        await gateway.refund(refund_of(session.token, None))


# --- payouts (Connect) ---------------------------------------------------------------------


def payout_of(amount: int = 5_000, account: str | None = ACCOUNT, transfer_id: str = "po-1"):
    return Transfer(transfer_id, amount, "USD", IBAN, account=account)


async def failed_payout(fake: FakeStripe, gateway: StripeGateway) -> None:
    """`payout_of()` transferred and paid out, then returned by the bank."""
    with pytest.raises(TransferInProgress):
        await gateway.payout(payout_of())
    fake.fail_payout(fake.payouts(ACCOUNT)[0]["id"])


async def test_a_payout_transfers_then_pays_out_of_the_connected_account(fake, gateway):
    stripe, _ = fake

    with pytest.raises(TransferInProgress, match="pending"):
        await gateway.payout(payout_of())

    (transfer,) = stripe.posts("/v1/transfers")
    assert transfer.idempotency_key == "payout-po-1-transfer"
    assert (transfer.account, transfer.params) == (
        None,
        {
            "amount": "5000",
            "currency": "usd",
            "destination": ACCOUNT,
            "transfer_group": "po-1",
            "metadata": {"transfer_id": "po-1"},
        },
    )
    (payout,) = stripe.posts("/v1/payouts")
    assert (payout.account, payout.idempotency_key) == (ACCOUNT, "payout-po-1-payout")
    assert payout.params == {
        "amount": "5000",
        "currency": "usd",
        "metadata": {"transfer_id": "po-1"},
    }


async def test_a_payout_in_transit_is_in_progress_until_paid(fake, gateway):
    stripe, _ = fake
    with pytest.raises(TransferInProgress):
        await gateway.payout(payout_of())
    (payout,) = stripe.payouts(ACCOUNT)
    stripe.in_transit(payout["id"])
    with pytest.raises(TransferInProgress, match="in_transit"):
        await gateway.payout(payout_of())
    stripe.complete_payout(payout["id"])

    assert await gateway.payout(payout_of()) == payout["id"]
    assert len(stripe.transfers) == 1 and len(stripe.payouts(ACCOUNT)) == 1
    assert len(stripe.posts("/v1/transfers")) == len(stripe.posts("/v1/payouts")) == 1


async def test_a_failed_payout_is_declined_after_its_transfer_is_reversed(fake, gateway):
    stripe, _ = fake
    platform = stripe.platform_balance
    await failed_payout(stripe, gateway)

    with pytest.raises(GatewayDeclined, match="account_closed"):
        await gateway.payout(payout_of())
    with pytest.raises(GatewayDeclined):  # asked again: nothing reversed twice
        await gateway.payout(payout_of())

    (reversal,) = stripe.posts(f"/v1/transfers/{stripe.transfers[0]['id']}/reversals")
    assert reversal.idempotency_key == "payout-po-1-reversal"
    assert stripe.transfers[0]["reversed"] is True
    assert (stripe.platform_balance, stripe.accounts[ACCOUNT]) == (platform, 0)


async def test_a_failed_payout_whose_transfer_cannot_be_reversed_yet_stays_open(fake, gateway):
    stripe, _ = fake
    await failed_payout(stripe, gateway)
    stripe.fail(500, "api_error", path=f"/v1/transfers/{stripe.transfers[0]['id']}/reversals")

    with pytest.raises(GatewayUnavailable, match="could not be reversed"):
        await gateway.payout(payout_of())
    with pytest.raises(GatewayDeclined):
        await gateway.payout(payout_of())
    assert stripe.transfers[0]["reversed"] is True


async def test_a_payout_refused_by_stripe_brings_the_transfer_back(fake, gateway):
    stripe, _ = fake
    platform = stripe.platform_balance
    stripe.refuse_payouts = "payouts_not_allowed"

    with pytest.raises(GatewayDeclined, match="payouts_not_allowed"):
        await gateway.payout(payout_of())

    assert stripe.transfers[0]["reversed"] is True
    assert stripe.platform_balance == platform


async def test_a_refused_payout_asked_again_is_not_paid_out_of_the_contractors_money(fake, gateway):
    stripe, _ = fake
    stripe.refuse_payouts = "payouts_not_allowed"
    with pytest.raises(GatewayDeclined):
        await gateway.payout(payout_of())
    stripe.refuse_payouts, stripe.accounts[ACCOUNT] = None, 9_000  # their own sales

    with pytest.raises(GatewayDeclined, match="reversed"):
        await gateway.payout(payout_of())
    assert stripe.payouts(ACCOUNT) == [] and stripe.accounts[ACCOUNT] == 9_000


async def test_a_payout_without_a_connected_account_is_declined(fake, gateway):
    stripe, _ = fake
    with pytest.raises(GatewayDeclined, match="connected account"):
        await gateway.payout(payout_of(account=None))
    assert stripe.requests == []


async def test_a_payout_beyond_the_platform_balance_is_declined(fake, gateway):
    stripe, _ = fake
    stripe.platform_balance = 4_999
    with pytest.raises(GatewayDeclined, match="balance_insufficient"):
        await gateway.payout(payout_of())
    assert stripe.accounts[ACCOUNT] == 0 and stripe.posts("/v1/payouts") == []


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "code", "raised"),
    [
        (402, "card_error", "card_declined", GatewayDeclined),
        (400, "invalid_request_error", "charge_already_refunded", GatewayDeclined),
        (404, "invalid_request_error", "resource_missing", GatewayDeclined),
        (400, "idempotency_error", None, GatewayUnavailable),
        (403, "invalid_request_error", None, GatewayUnavailable),  # restricted key
        (409, "invalid_request_error", "idempotency_key_in_use", GatewayUnavailable),
        (429, "invalid_request_error", "rate_limit", GatewayUnavailable),
        (500, "api_error", None, GatewayUnavailable),
        (503, "api_error", None, GatewayUnavailable),
    ],
)
async def test_each_stripe_error_is_declined_or_unavailable(
    fake, gateway, status, kind, code, raised
):
    stripe, _ = fake
    token, intent = await paid_session(stripe, gateway)
    stripe.fail(status, kind, code, method="POST", path="/v1/refunds")

    with pytest.raises(raised) as caught:
        await gateway.refund(refund_of(token, intent))

    assert type(caught.value) is raised  # not a TransferInProgress
    assert stripe.refunds == []


async def test_a_wrong_api_key_is_a_configuration_fault_not_a_decline(fake):
    _, url = fake
    adapter = StripeGateway("sk_test_wrong", SECRET, api_url=url, timeout=5)
    with pytest.raises(GatewayUnavailable, match="AuthenticationError"):
        await adapter.payout(payout_of())
    with pytest.raises(GatewayUnavailable):
        await adapter.open_payment(request())
    await adapter.aclose()


async def test_an_unreachable_stripe_is_unavailable_not_a_failure():
    adapter = StripeGateway(API_KEY, SECRET, api_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(GatewayUnavailable):
        await adapter.verify("cs_test_1", 2_500, "USD")
    with pytest.raises(GatewayUnavailable, match="APIConnectionError"):
        await adapter.refund(refund_of("cs_test_1", "pi_test_1"))
    await adapter.aclose()
    await adapter.aclose()  # again is harmless
