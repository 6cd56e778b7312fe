"""The Zarinpal adapter over HTTP against a local server that answers as Zarinpal's documentation
shows: payment request, StartPay redirect, the callback's query string, verify (100, 101, -50,
-51, -53, -54) and its fee, inquiry's statuses, the unVerified list, refused requests (-9, -10,
and the merchant's configuration -14/-15/-16), and refunds on the GraphQL API: found by ref_id,
never made twice for one transfer, declined or unavailable as Zarinpal answers."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from payments.adapters.gateways.port import IncomingCallback
from payments.adapters.gateways.zarinpal import MerchantMisconfigured, ZarinpalGateway
from payments.domain.errors import CallbackMismatch, CallbackRejected
from payments.domain.gateway import (
    GatewayDeclined,
    GatewayUnavailable,
    PaymentRequest,
    Settled,
    Transfer,
    UnsupportedByGateway,
)
from payments.testing.fake_zarinpal import FakeZarinpal
from shared.testing.servers import serving

MERCHANT = "1344b5d4-0048-11e8-94db-005056a205be"
TOKEN = "zp-access-token"
#: far shorter than the fake's delay, so a delayed answer is a timeout
SHORT_TIMEOUT_S = 0.1


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeZarinpal, str]]:
    zarinpal = FakeZarinpal(MERCHANT, access_token=TOKEN, delay_s=1.0)
    async with serving(zarinpal.app()) as url:
        yield zarinpal, url


def gateway(
    url: str,
    merchant: str = MERCHANT,
    *,
    access_token: str | None = TOKEN,
    refund_method: str = "CARD",
    timeout: float = 5,
) -> ZarinpalGateway:
    return ZarinpalGateway(
        merchant,
        api_url=url,
        startpay_url=f"{url}/pg/StartPay/",
        graphql_url=f"{url}/api/v4/graphql/",
        access_token=access_token,
        refund_method=refund_method,  # type: ignore[arg-type]
        timeout=timeout,
    )


def request(amount: int = 10_000, currency: str = "IRR") -> PaymentRequest:
    return PaymentRequest("pay-1", amount, currency, "", "http://shop.example/callbacks/zarinpal")


async def paid_session(
    zarinpal: FakeZarinpal, adapter: ZarinpalGateway, amount: int = 10_000
) -> str:
    """A session the payer paid, not verified yet: its authority."""
    session = await adapter.open_payment(request(amount))
    zarinpal.pay(session.token)
    return session.token


async def verified(zarinpal: FakeZarinpal, adapter: ZarinpalGateway, amount: int) -> Transfer:
    """A paid and verified payment; a refund of all of it, as the service would send it."""
    token = await paid_session(zarinpal, adapter, amount)
    verification = await adapter.verify(token, amount, "IRR")
    return Transfer("refund-1", amount, "IRR", token, payment_reference=verification.reference)


def test_the_defaults_are_the_current_documented_hosts():
    adapter = ZarinpalGateway(MERCHANT)
    assert adapter.api_url == "https://payment.zarinpal.com"
    assert adapter.startpay_url == "https://payment.zarinpal.com/pg/StartPay/"
    assert adapter.graphql_url == "https://next.zarinpal.com/api/v4/graphql/"
    assert (adapter.access_token, adapter.refund_method) == (None, "CARD")


# --- payment request ------------------------------------------------------------------------


async def test_a_payment_request_sends_the_documented_fields_and_redirects_to_startpay(fake):
    zarinpal, url = fake

    session = await gateway(url).open_payment(request())

    assert len(session.token) == 36 and session.token.startswith("A")
    assert session.redirect_url == f"{url}/pg/StartPay/{session.token}"
    sent = zarinpal.requests[0]
    assert sent == {
        "merchant_id": MERCHANT,
        "amount": 10_000,
        "currency": "IRR",
        "description": "payment pay-1",
        "callback_url": "http://shop.example/callbacks/zarinpal",
        "metadata": {"order_id": "pay-1"},
    }


@pytest.mark.parametrize(
    ("merchant", "amount", "code"),
    [("00000000-0000-0000-0000-000000000000", 10_000, "-10"), (MERCHANT, 999, "-9")],
)
async def test_a_refused_payment_request_is_declined_with_its_code(fake, merchant, amount, code):
    _, url = fake
    with pytest.raises(GatewayDeclined, match=code):
        await gateway(url, merchant).open_payment(request(amount))


@pytest.mark.parametrize("code", [-14, -15, -16])
async def test_a_misconfigured_terminal_declines_payment_requests_saying_so(fake, code):
    zarinpal, url = fake
    zarinpal.terminal_problem = code
    with pytest.raises(GatewayDeclined, match=f"{code}.*must fix this in Zarinpal's panel"):
        await gateway(url).open_payment(request())


async def test_only_rials_and_tomans_are_offered_to_zarinpal(fake):
    zarinpal, url = fake
    with pytest.raises(UnsupportedByGateway):
        await gateway(url).open_payment(request(currency="USD"))
    assert zarinpal.requests == []


# --- verify ---------------------------------------------------------------------------------


async def test_verify_confirms_a_paid_session_then_answers_already_verified(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    token = await paid_session(zarinpal, adapter)

    first = await adapter.verify(token, 10_000, "IRR")
    second = await adapter.verify(token, 10_000, "IRR")

    assert (first.status, first.amount, first.currency) == ("paid", 10_000, "IRR")
    assert first.reference is not None and first.reference.isdigit()
    assert (second.status, second.reference) == ("paid", first.reference)  # code 101


@pytest.mark.parametrize(("fee_type", "booked"), [("Merchant", 350), ("Payer", 0)])
async def test_the_fee_is_booked_only_when_the_merchant_pays_it(fake, fee_type, booked):
    zarinpal, url = fake
    adapter = gateway(url)
    token = await paid_session(zarinpal, adapter, 70_000)
    zarinpal.sessions[token].fee_type = fee_type
    zarinpal.sessions[token].fee = 350  # rials, like the IRR amount

    verification = await adapter.verify(token, 70_000, "IRR")

    assert (verification.status, verification.amount, verification.fee) == ("paid", 70_000, booked)


async def test_verify_of_an_unpaid_session_is_a_failure(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    session = await adapter.open_payment(request())
    zarinpal.cancel(session.token)

    verification = await adapter.verify(session.token, 10_000, "IRR")

    assert verification.status == "failed"
    assert "-51" in verification.reason


async def test_verify_with_another_amount_is_a_mismatch(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    token = await paid_session(zarinpal, adapter)

    with pytest.raises(CallbackMismatch, match="-50"):
        await adapter.verify(token, 9_999, "IRR")
    assert zarinpal.sessions[token].state == "paid"  # not verified by the wrong amount


@pytest.mark.parametrize(("merchant", "code"), [(MERCHANT, "-54"), ("other-merchant", "-53")])
async def test_verify_of_a_session_that_is_not_ours_is_a_mismatch(fake, merchant, code):
    zarinpal, url = fake
    authority = await paid_session(zarinpal, gateway(url))
    token = authority if code == "-53" else "A" + "9" * 35
    with pytest.raises(CallbackMismatch, match=code):
        await gateway(url, merchant).verify(token, 10_000, "IRR")


@pytest.mark.parametrize("code", [-14, -15, -16])
async def test_a_misconfigured_terminal_fails_verify_inquiry_and_the_list_clearly(fake, code):
    zarinpal, url = fake
    adapter = gateway(url)
    token = await paid_session(zarinpal, adapter)
    zarinpal.terminal_problem = code

    for call in (
        adapter.verify(token, 10_000, "IRR"),
        adapter.inquire(token, 10_000, "IRR"),
        adapter.unverified(),
    ):
        with pytest.raises(MerchantMisconfigured, match=f"{code}.*Zarinpal's panel") as raised:
            await call
        assert not raised.value.definitive  # the payment may well be paid: asked again
    assert zarinpal.sessions[token].state == "paid"


async def test_an_unreachable_zarinpal_is_unavailable_not_a_failure():
    adapter = gateway("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(GatewayUnavailable):
        await adapter.verify("A" + "0" * 35, 10_000, "IRR")


async def test_a_zarinpal_that_answers_too_late_is_unavailable(fake):
    zarinpal, url = fake
    adapter = gateway(url, timeout=SHORT_TIMEOUT_S)
    token = await paid_session(zarinpal, adapter)
    zarinpal.fault("verify", "timeout")

    with pytest.raises(GatewayUnavailable, match="no answer"):
        await adapter.verify(token, 10_000, "IRR")
    assert (await adapter.verify(token, 10_000, "IRR")).status == "paid"  # asked again


# --- inquiry and the unverified list --------------------------------------------------------


@pytest.mark.parametrize(
    ("what_happened", "status", "reason"),
    [
        (None, "pending", ""),  # IN_BANK: the payer is still at the bank
        ("cancel", "failed", "zarinpal: FAILED"),
        ("reverse", "failed", "zarinpal: REVERSED"),
    ],
)
async def test_inquiry_maps_the_documented_statuses(fake, what_happened, status, reason):
    zarinpal, url = fake
    adapter = gateway(url)
    session = await adapter.open_payment(request())
    if what_happened:
        getattr(zarinpal, what_happened)(session.token)

    inquired = await adapter.inquire(session.token, 10_000, "IRR")

    assert (inquired.token, inquired.status, inquired.reason) == (session.token, status, reason)
    assert zarinpal.requests[-1] == {"merchant_id": MERCHANT, "authority": session.token}


@pytest.mark.parametrize("verified_before", [False, True])  # PAID, VERIFIED
async def test_inquiry_of_a_paid_session_verifies_it(fake, verified_before):
    zarinpal, url = fake
    adapter = gateway(url)
    token = await paid_session(zarinpal, adapter)
    if verified_before:
        await adapter.verify(token, 10_000, "IRR")

    inquired = await adapter.inquire(token, 10_000, "IRR")

    assert (inquired.status, inquired.amount, inquired.fee) == ("paid", 10_000, 100)
    assert inquired.reference == str(zarinpal.sessions[token].ref_id)
    assert zarinpal.requests[-1] == {
        "merchant_id": MERCHANT,
        "amount": 10_000,
        "authority": token,
    }  # the inquiry was followed by a verify


@pytest.mark.parametrize(("merchant", "code"), [(MERCHANT, "-54"), ("other-merchant", "-53")])
async def test_inquiry_of_a_session_that_is_not_ours_is_a_mismatch(fake, merchant, code):
    _, url = fake
    session = await gateway(url).open_payment(request())
    token = session.token if code == "-53" else "A" + "9" * 35
    with pytest.raises(CallbackMismatch, match=code):
        await gateway(url, merchant).inquire(token, 10_000, "IRR")


async def test_inquiry_with_no_answer_is_unavailable(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    session = await adapter.open_payment(request())
    zarinpal.fault("inquiry", "500")
    with pytest.raises(GatewayUnavailable):
        await adapter.inquire(session.token, 10_000, "IRR")


async def test_unverified_lists_the_sessions_paid_and_not_yet_verified(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    paid, verified_, abandoned = [await adapter.open_payment(request()) for _ in range(3)]
    zarinpal.pay(paid.token)
    zarinpal.pay(verified_.token)
    await adapter.verify(verified_.token, 10_000, "IRR")

    assert await adapter.unverified() == [paid.token]
    assert zarinpal.requests[-1] == {"merchant_id": MERCHANT}
    assert abandoned.token not in await adapter.unverified()


async def test_settled_is_the_unverified_list_and_says_it_is_incomplete(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    paid = await paid_session(zarinpal, adapter, 12_000)
    verified_ = await paid_session(zarinpal, adapter, 30_000)
    await adapter.verify(verified_, 30_000, "IRR")
    now = datetime.now(UTC)

    listing = await adapter.settled(now - timedelta(days=1), now)

    # what is verified is no longer listed: Zarinpal cannot say all it took
    assert (listing.items, listing.complete) == ((Settled(paid, 12_000, "IRR"),), False)
    assert zarinpal.requests[-1] == {"merchant_id": MERCHANT}


async def test_a_settled_listing_zarinpal_refuses_is_unavailable(fake):
    zarinpal, url = fake
    zarinpal.fault("unVerified", "500")
    now = datetime.now(UTC)
    with pytest.raises(GatewayUnavailable):
        await gateway(url).settled(now - timedelta(days=1), now)


# --- callbacks and payouts ------------------------------------------------------------------


def test_the_callback_query_string_is_read_but_not_believed():
    adapter = gateway("http://unused")
    ok = adapter.read_callback(IncomingCallback("GET", {"Authority": "A1", "Status": "OK"}, {}))
    nok = adapter.read_callback(IncomingCallback("GET", {"Authority": "A1", "Status": "NOK"}, {}))
    assert (ok.token, ok.status, ok.amount) == ("A1", "paid", None)
    assert nok.status == "failed"
    with pytest.raises(CallbackRejected):
        adapter.read_callback(IncomingCallback("GET", {"Status": "OK"}, {}))


async def test_payouts_do_not_go_through_zarinpal():
    with pytest.raises(UnsupportedByGateway):
        await gateway("http://unused").payout(Transfer("t-1", 100_000, "IRR", "IR000"))


# --- refunds --------------------------------------------------------------------------------


async def test_a_refund_without_an_access_token_is_unsupported():
    adapter = gateway("http://unused", access_token=None)
    with pytest.raises(UnsupportedByGateway, match="ZARINPAL_ACCESS_TOKEN"):
        await adapter.refund(Transfer("t-1", 50_000, "IRR", "A1", payment_reference="1"))


async def test_a_refund_finds_the_session_by_ref_id_and_sends_the_documented_variables(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    transfer = await verified(zarinpal, adapter, 50_000)
    session = zarinpal.sessions[transfer.destination]

    reference = await adapter.refund(transfer)

    [refund] = session.refunds
    assert reference == refund.id and refund.amount == 50_000
    operations = [(c["operation"], c["authorization"]) for c in zarinpal.graphql]
    assert operations == [
        ("Terminals", f"Bearer {TOKEN}"),
        ("Session", f"Bearer {TOKEN}"),
        ("AddRefund", f"Bearer {TOKEN}"),
    ]
    assert zarinpal.graphql[1]["variables"] == {
        "terminal_id": zarinpal.terminal_id,  # ours, by its key, not the token's other terminal
        "reference_id": transfer.payment_reference,
    }
    assert zarinpal.graphql[2]["variables"] == {
        "session_id": session.id,  # the session's transaction number, not the authority
        "amount": 50_000,
        "description": f"refund of payment {transfer.destination} [refund-1]",
        "method": "CARD",
        "reason": "CUSTOMER_REQUEST",
    }


async def test_a_paya_refund_is_accepted_at_once(fake):
    zarinpal, url = fake
    adapter = gateway(url, refund_method="PAYA")
    transfer = await verified(zarinpal, adapter, 50_000)

    reference = await adapter.refund(transfer)

    [refund] = zarinpal.refunds()
    assert (reference, refund.method) == (refund.id, "PAYA")


async def test_a_partial_refund_leaves_the_rest_refundable(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    payment = await verified(zarinpal, adapter, 100_000)
    first = replace(payment, transfer_id="refund-1", amount=30_000)
    second = replace(payment, transfer_id="refund-2", amount=70_000)

    references = {await adapter.refund(first), await adapter.refund(second)}

    assert len(references) == 2
    assert zarinpal.sessions[payment.destination].refundable == 0


async def test_refunding_the_same_transfer_twice_refunds_once(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    transfer = await verified(zarinpal, adapter, 50_000)

    first = await adapter.refund(transfer)
    again = await gateway(url).refund(transfer)  # another worker, after a restart

    assert first == again
    assert len(zarinpal.refunds()) == 1


async def test_a_refund_retried_after_a_timeout_that_did_refund_is_not_repeated(fake):
    zarinpal, url = fake
    adapter = gateway(url, timeout=SHORT_TIMEOUT_S)
    transfer = await verified(zarinpal, adapter, 50_000)
    zarinpal.fault("AddRefund", "timeout_after_work")

    with pytest.raises(GatewayUnavailable) as raised:
        await adapter.refund(transfer)
    assert not raised.value.definitive
    async with asyncio.timeout(5):  # the fake refunded, then answered too late
        while not zarinpal.refunds():
            await asyncio.sleep(0.01)
    reference = await adapter.refund(transfer)

    [refund] = zarinpal.refunds()
    assert reference == refund.id


async def test_a_refund_below_the_documented_minimum_is_declined_before_any_call(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    with pytest.raises(GatewayDeclined, match="20000"):
        await adapter.refund(Transfer("t-1", 19_999, "IRR", "A1", payment_reference="1"))
    assert zarinpal.graphql == []


async def test_a_refund_of_a_payment_without_a_ref_id_is_declined(fake):
    zarinpal, url = fake
    with pytest.raises(GatewayDeclined, match="ref_id"):
        await gateway(url).refund(Transfer("t-1", 50_000, "IRR", "A1"))
    assert zarinpal.graphql == []


@pytest.mark.parametrize(
    ("amount", "refunded_before", "match"),
    [
        (60_000, 0, "more than the refundable amount"),
        (50_000, 50_000, "already refunded"),
    ],
)
async def test_a_refund_zarinpal_refuses_is_declined(fake, amount, refunded_before, match):
    zarinpal, url = fake
    adapter = gateway(url)
    payment = await verified(zarinpal, adapter, 50_000)
    if refunded_before:
        await adapter.refund(payment)
    transfer = replace(payment, transfer_id="refund-2", amount=amount)

    with pytest.raises(GatewayDeclined, match=match) as raised:
        await adapter.refund(transfer)
    assert raised.value.definitive
    assert len(zarinpal.refunds()) == (1 if refunded_before else 0)


async def test_a_refund_of_a_session_zarinpal_does_not_know_is_declined(fake):
    _, url = fake
    with pytest.raises(GatewayDeclined, match="no session with ref_id 424242"):
        await gateway(url).refund(Transfer("t-1", 50_000, "IRR", "A1", payment_reference="424242"))


async def test_a_refund_with_a_refused_access_token_is_declined(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    transfer = await verified(zarinpal, adapter, 50_000)
    with pytest.raises(GatewayDeclined, match="access token"):
        await gateway(url, access_token="revoked").refund(transfer)
    assert zarinpal.refunds() == []


@pytest.mark.parametrize(
    ("operation", "kind"),
    [("AddRefund", "500"), ("AddRefund", "errors"), ("AddRefund", "timeout"), ("Session", "500")],
)
async def test_a_refund_without_a_clear_answer_is_unavailable(fake, operation, kind):
    zarinpal, url = fake
    adapter = gateway(url, timeout=SHORT_TIMEOUT_S)
    transfer = await verified(zarinpal, adapter, 50_000)
    zarinpal.fault(operation, kind)

    with pytest.raises(GatewayUnavailable) as raised:
        await adapter.refund(transfer)
    assert not raised.value.definitive
    assert zarinpal.refunds() == []


# --- the service ----------------------------------------------------------------------------


@pytest.mark.integration
async def test_a_zarinpal_payment_is_received_after_verify(start_payments, fake):
    zarinpal, url = fake
    settings = {
        "payment_gateways": {"IRR": "zarinpal"},
        "zarinpal_merchant_id": MERCHANT,
        "zarinpal_api_url": url,
        "zarinpal_startpay_url": f"{url}/pg/StartPay/",
        "zarinpal_graphql_url": f"{url}/api/v4/graphql/",
        "zarinpal_access_token": TOKEN,
    }
    async with start_payments(**settings) as payments:
        result, payment_id = await payments.start_payment(50_000, escrow_id="esc-zp")
        assert result.accepted
        started = await payments.wait_event("payment-started", payment_id=payment_id)
        authority = started["redirect_url"].rsplit("/", 1)[1]
        assert started["gateway"] == "zarinpal"
        [opened] = [r for r in zarinpal.requests if "callback_url" in r]  # beside unVerified
        assert opened["callback_url"].endswith("/callbacks/zarinpal")

        early = await payments.http.get(f"/callbacks/zarinpal?Authority={authority}&Status=OK")
        zarinpal.pay(authority)
        back = await payments.http.get(f"/callbacks/zarinpal?Authority={authority}&Status=OK")
        again = await payments.http.get(f"/callbacks/zarinpal?Authority={authority}&Status=OK")

        assert early.status_code == 409  # "paid" before Zarinpal says so: nothing recorded
        assert (back.status_code, again.status_code) == (200, 200)
        received = await payments.wait_event("payment-received", payment_id=payment_id)
        assert received["reference"] == str(zarinpal.sessions[authority].ref_id)
        assert await payments.ledger_problems() == []
        assert len(payments.events("payment-received", payment_id=payment_id)) == 1
