"""The Zarinpal adapter over HTTP against a local server that answers as Zarinpal's v4 documentation
shows: payment request, StartPay redirect, the callback's query string, verify (100, 101, -50,
-51, -53, -54), refused requests (-9, -10), and no payout or refund API."""

from collections.abc import AsyncIterator

import pytest
from payments.adapters.gateways.port import IncomingCallback
from payments.adapters.gateways.zarinpal import ZarinpalGateway
from payments.domain.errors import CallbackMismatch, CallbackRejected
from payments.domain.gateway import (
    GatewayDeclined,
    GatewayUnavailable,
    PaymentRequest,
    Transfer,
    UnsupportedByGateway,
)
from payments.testing.fake_zarinpal import FakeZarinpal
from shared.testing.servers import serving

MERCHANT = "1344b5d4-0048-11e8-94db-005056a205be"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeZarinpal, str]]:
    zarinpal = FakeZarinpal(MERCHANT)
    async with serving(zarinpal.app()) as url:
        yield zarinpal, url


def gateway(url: str, merchant: str = MERCHANT) -> ZarinpalGateway:
    return ZarinpalGateway(merchant, api_url=url, startpay_url=f"{url}/pg/StartPay/", timeout=5)


def request(amount: int = 10_000, currency: str = "IRR") -> PaymentRequest:
    return PaymentRequest("pay-1", amount, currency, "", "http://shop.example/callbacks/zarinpal")


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


async def test_only_rials_and_tomans_are_offered_to_zarinpal(fake):
    zarinpal, url = fake
    with pytest.raises(UnsupportedByGateway):
        await gateway(url).open_payment(request(currency="USD"))
    assert zarinpal.requests == []


async def test_verify_confirms_a_paid_session_then_answers_already_verified(fake):
    zarinpal, url = fake
    adapter = gateway(url)
    session = await adapter.open_payment(request())
    zarinpal.pay(session.token)

    first = await adapter.verify(session.token, 10_000, "IRR")
    second = await adapter.verify(session.token, 10_000, "IRR")

    assert (first.status, first.amount, first.currency) == ("paid", 10_000, "IRR")
    assert first.reference is not None and first.reference.isdigit()
    assert (second.status, second.reference) == ("paid", first.reference)  # code 101


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
    session = await adapter.open_payment(request())
    zarinpal.pay(session.token)

    with pytest.raises(CallbackMismatch, match="-50"):
        await adapter.verify(session.token, 9_999, "IRR")
    assert zarinpal.sessions[session.token].state == "paid"  # not verified by the wrong amount


@pytest.mark.parametrize(("merchant", "code"), [(MERCHANT, "-54"), ("other-merchant", "-53")])
async def test_verify_of_a_session_that_is_not_ours_is_a_mismatch(fake, merchant, code):
    zarinpal, url = fake
    session = await gateway(url).open_payment(request())
    zarinpal.pay(session.token)
    token = session.token if code == "-53" else "A" + "9" * 35
    with pytest.raises(CallbackMismatch, match=code):
        await gateway(url, merchant).verify(token, 10_000, "IRR")


async def test_an_unreachable_zarinpal_is_unavailable_not_a_failure():
    adapter = gateway("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(GatewayUnavailable):
        await adapter.verify("A" + "0" * 35, 10_000, "IRR")


def test_the_callback_query_string_is_read_but_not_believed():
    adapter = gateway("http://unused")
    ok = adapter.read_callback(IncomingCallback("GET", {"Authority": "A1", "Status": "OK"}, {}))
    nok = adapter.read_callback(IncomingCallback("GET", {"Authority": "A1", "Status": "NOK"}, {}))
    assert (ok.token, ok.status, ok.amount) == ("A1", "paid", None)
    assert nok.status == "failed"
    with pytest.raises(CallbackRejected):
        adapter.read_callback(IncomingCallback("GET", {"Status": "OK"}, {}))


async def test_zarinpal_has_no_payout_or_refund_api():
    adapter = gateway("http://unused")
    transfer = Transfer("t-1", 1_000, "IRR", "IR000")
    with pytest.raises(UnsupportedByGateway):
        await adapter.payout(transfer)
    with pytest.raises(UnsupportedByGateway):
        await adapter.refund(transfer)


@pytest.mark.integration
async def test_a_zarinpal_payment_is_received_after_verify(start_payments, fake):
    zarinpal, url = fake
    settings = {
        "payment_gateway": "zarinpal",
        "zarinpal_merchant_id": MERCHANT,
        "zarinpal_api_url": url,
        "zarinpal_startpay_url": f"{url}/pg/StartPay/",
    }
    async with start_payments(**settings) as payments:
        result, payment_id = await payments.start_payment(50_000, escrow_id="esc-zp")
        assert result.accepted
        started = await payments.wait_event("payment-started", payment_id=payment_id)
        authority = started["redirect_url"].rsplit("/", 1)[1]
        assert started["gateway"] == "zarinpal"
        assert zarinpal.requests[0]["callback_url"].endswith("/callbacks/zarinpal")

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
