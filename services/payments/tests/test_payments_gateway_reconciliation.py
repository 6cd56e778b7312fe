"""Reconciliation is not blind to the gateway (issue 14 point 7): what the sandbox gateway says
it took, listed over HTTP, and compared by `GET /reconciliation/gateways` with what payments
recorded, over the real broker and database: money taken for a payment whose callback never
reached payments is named, and the difference is gone once the payment is received."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.domain.gateway import GatewayUnavailable, Settled
from payments.sandbox.signing import DEV_SECRET, SIGNATURE_HEADER, sign
from payments.testing.harness import SandboxHandle

#: no inquiry falls due while a test runs: only the callback can settle a payment
NO_INQUIRY = {"payment_inquiry_after_s": 3600, "payment_inquiry_every_s": 3600}


@pytest.fixture
async def adapter(sandbox: SandboxHandle) -> AsyncIterator[SandboxGateway]:
    gateway = SandboxGateway(sandbox.url, DEV_SECRET, timeout=5)
    yield gateway
    await gateway.aclose()


def window(sandbox: SandboxHandle) -> dict[str, str]:
    """From the sandbox's start (it remembers nothing earlier) to ten minutes ahead: every
    payment of the test, received ones included (those opened in the window's last five
    minutes are not asked of the listing)."""
    until = datetime.now(UTC) + timedelta(minutes=10)
    return {"since": sandbox.state.started_at.isoformat(), "until": until.isoformat()}


# --- the sandbox's listing, over HTTP ---------------------------------------------------------


async def test_the_sandbox_lists_the_payments_it_took_in_the_window(sandbox, adapter):
    state = sandbox.state
    paid, failed, pending = (
        state.create_payment(
            {"order_id": f"pay-{n}", "amount": 1_000, "currency": "IRR", "callback_url": "x"}
        )
        for n in range(3)
    )
    state.pay(paid.token, "paid", amount=999)  # the payer paid another amount
    state.pay(failed.token, "failed")
    now = datetime.now(UTC)

    listing = await adapter.settled(state.started_at, now + timedelta(minutes=5))
    earlier = await adapter.settled(state.started_at - timedelta(days=1), now)

    assert (listing.items, listing.complete) == ((Settled(paid.token, 999, "IRR"),), True)
    # before the sandbox started it remembers nothing: it cannot say it took nothing then
    assert (earlier.items, earlier.complete) == (listing.items, False)
    assert pending.status == "pending"


async def test_a_sandbox_listing_cut_at_its_bound_is_incomplete(sandbox, adapter, monkeypatch):
    monkeypatch.setattr("payments.adapters.gateways.sandbox.SETTLED_MAX_ITEMS", 1)
    for n in range(3):
        payment = sandbox.state.create_payment(
            {"order_id": f"pay-{n}", "amount": 500, "currency": "IRR", "callback_url": "x"}
        )
        sandbox.state.pay(payment.token, "paid")
    now = datetime.now(UTC)

    listing = await adapter.settled(sandbox.state.started_at, now + timedelta(minutes=5))

    assert (len(listing.items), listing.complete, listing.truncated) == (1, False, True)


async def test_a_sandbox_listing_with_the_wrong_key_is_unavailable(sandbox):
    gateway = SandboxGateway(sandbox.url, "not-the-secret", timeout=5)
    now = datetime.now(UTC)
    with pytest.raises(GatewayUnavailable, match="401"):
        await gateway.settled(now - timedelta(minutes=5), now)
    await gateway.aclose()


# --- the route, over the real broker and database ---------------------------------------------


@pytest.mark.integration
async def test_money_taken_while_the_callback_was_lost_is_named_until_received(start_payments):
    async with start_payments(**NO_INQUIRY) as payments:
        await payments.fund(40_000, escrow_id="esc-kept")
        await payments.sandbox.behave(send_callbacks=False)  # payments never hears of it
        _, lost = await payments.start_payment(90_000, escrow_id="esc-lost")
        await payments.pay(lost)
        [token] = [t for t, p in payments.sandbox.state.payments.items() if p.order_id == lost]

        sandbox = (await reconciliation(payments))["sandbox"]

        assert sandbox["complete"] is True
        assert sandbox["differences"] == [
            {
                "kind": "unrecorded",
                "payment_id": lost,
                "reference": token,
                "recorded": {"status": "started", "amount": 90_000, "currency": "IRR"},
                "settled": {"amount": 90_000, "currency": "IRR"},
            }
        ]
        assert sandbox["differences_count"] == 1
        assert sandbox["settled"] == {"IRR": {"count": 2, "amount": 130_000}}
        assert sandbox["matched"] == {"IRR": {"count": 1, "amount": 40_000}}

        await redeliver_callback(payments, token)
        await payments.wait_event("payment-received", payment_id=lost)

        again = (await reconciliation(payments))["sandbox"]
        assert (again["differences"], again["differences_count"]) == ([], 0)
        assert again["matched"] == {"IRR": {"count": 2, "amount": 130_000}}


async def reconciliation(payments) -> dict:
    answer = await payments.http.get("/reconciliation/gateways", params=window(payments.sandbox))
    assert answer.status_code == 200, answer.text
    return answer.json()["gateways"]


@pytest.mark.integration
async def test_a_window_that_is_not_one_is_refused(start_payments):
    async with start_payments(**NO_INQUIRY) as payments:
        now = datetime.now(UTC)
        for query in (
            {"since": now.isoformat(), "until": (now - timedelta(seconds=1)).isoformat()},
            {"since": (now - timedelta(days=40)).isoformat(), "until": now.isoformat()},
            {"since": "2026-01-01T00:00:00", "until": now.isoformat()},  # no offset
            {"since": "yesterday"},
        ):
            answer = await payments.http.get("/reconciliation/gateways", params=query)
            assert (answer.status_code, answer.json()["error"]) == (400, "malformed"), query


async def redeliver_callback(payments, token: str) -> None:
    """The sandbox's signed callback for `token`, as it would have sent it."""
    body = json.dumps(payments.sandbox.state.payments[token].verification()).encode()
    answer = await payments.http.post(
        "/callbacks/sandbox",
        content=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(DEV_SECRET, body)},
    )
    assert answer.status_code == httpx.codes.OK, answer.text
