"""The refund and payout flows of the suite with the real gateway adapters (issue 13), against
the PSPs' local fakes instead of the sandbox: IRR payments at Zarinpal (callback and inquiry,
refunds over its GraphQL API), IRR payouts through Vandar's settlements, and USD payments,
refunds and Connect payouts at Stripe.

One second suite stack for the module, its payments service routed to the fakes, which are
served in this process (in the session's event loop, as the tests) before the stack starts.
Every test checks the wire events, the fakes' own records, and ends with reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from payments.adapters.gateways.vandar import track_id_for
from payments.testing.fake_stripe import FakeStripe
from payments.testing.fake_vandar import FakeVandar
from payments.testing.fake_zarinpal import FakeZarinpal
from shared.cli.config import CliConfig
from shared.cli.reconcile import Books, fetch
from shared.client import SuiteClient
from shared.contract import escrow as wire
from shared.contract.payments import RequestPayout
from shared.contract.registry import all_topics, topics_with_dlq
from shared.devstack.processes import free_port
from shared.devstack.stack import SERVICES, StackConfig, SuiteStack
from shared.testing.servers import serving

from tests.e2e.conftest import FAST, Marketplace

pytestmark = pytest.mark.integration

T = TypeVar("T")

SHEBA = "IR820540102680020817909002"
#: a USD payout still names an IBAN (the contract requires one); Stripe pays the account
IBAN_DE = "DE89370400440532013000"
MERCHANT_ID = "3a1c5f0e-0d5e-4b8e-9a6b-7c2f1e4d5a6b"
CONNECTED = "acct_1contractor"
VANDAR_WALLET_TOMAN = 10_000_000


@dataclass
class Psps:
    zarinpal: FakeZarinpal
    vandar: FakeVandar
    stripe: FakeStripe
    zarinpal_url: str
    vandar_url: str
    stripe_url: str

    def env(self) -> dict[str, str]:
        return {
            "PAYMENT_GATEWAYS": '{"IRR": "zarinpal", "USD": "stripe"}',
            "PAYOUT_GATEWAYS": '{"IRR": "vandar", "USD": "stripe"}',
            "ZARINPAL_MERCHANT_ID": self.zarinpal.merchant_id,
            "ZARINPAL_API_URL": self.zarinpal_url,
            "ZARINPAL_STARTPAY_URL": f"{self.zarinpal_url}/pg/StartPay/",
            "ZARINPAL_GRAPHQL_URL": f"{self.zarinpal_url}/api/v4/graphql/",
            "ZARINPAL_ACCESS_TOKEN": self.zarinpal.access_token,
            "VANDAR_API_URL": self.vandar_url,
            "VANDAR_BUSINESS": self.vandar.business,
            "VANDAR_ACCESS_TOKEN": self.vandar.access_token,
            "STRIPE_API_URL": self.stripe_url,
            "STRIPE_API_KEY": self.stripe.api_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe.webhook_secret,
        }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def psps() -> AsyncIterator[Psps]:
    """The three fakes, listening before the stack starts (its settings name their URLs)."""
    zarinpal = FakeZarinpal(merchant_id=MERCHANT_ID)
    vandar = FakeVandar(
        business="escrow-suite", access_token="vandar-token", wallet=VANDAR_WALLET_TOMAN
    )
    stripe = FakeStripe(
        api_key="sk_test_live_psps", webhook_secret="whsec_live_psps", accounts={CONNECTED: 0}
    )
    async with contextlib.AsyncExitStack() as servers:
        urls = [
            await servers.enter_async_context(serving(f.app())) for f in (zarinpal, vandar, stripe)
        ]
        yield Psps(zarinpal, vandar, stripe, *urls)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live_stack(
    psps: Psps, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SuiteStack]:
    config = StackConfig(
        var_dir=tmp_path_factory.mktemp("live-psps") / "var",
        postgres_port=free_port(),
        kafka_port=free_port(),
        smtp_port=free_port(),
        sandbox_port=free_port(),
        http_ports={name: free_port() for name in SERVICES},
        fast_postgres=True,
        service_env={
            **FAST,
            **psps.env(),
            # a transfer the PSP has under way is asked about again soon
            "TRANSFER_POLL_DELAY_MS": "200",
            # a payment not called back is asked of its gateway after a second
            "PAYMENT_INQUIRY_AFTER_S": "1",
            "PAYMENT_INQUIRY_EVERY_S": "0.5",
        },
    )
    suite = SuiteStack(config, say=lambda line: None)
    # Started in a thread: the fakes answer in this event loop meanwhile (the payments
    # service's inquiry worker asks Zarinpal's unVerified list as soon as it runs).
    try:
        await asyncio.to_thread(suite.start)
        yield suite
    finally:
        await asyncio.to_thread(suite.stop)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(live_stack: SuiteStack) -> AsyncIterator[Marketplace]:
    key = (live_stack.keys_dir / "actor-token.key.pem").read_text()
    async with SuiteClient(
        live_stack.bootstrap_servers,
        private_key_pem=key,
        watch=topics_with_dlq(all_topics()),
        keyring=live_stack.keyring(),
    ) as client:
        yield Marketplace(live_stack, client)


# --- helpers ---------------------------------------------------------------------------------


async def _until(found: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll a fake's records (they change in this loop) until `found()` is truthy."""
    try:
        async with asyncio.timeout(timeout):
            while not (result := found()):
                await asyncio.sleep(0.05)
            return result
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def _seen(market: Marketplace, topic: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e.data
        for e in market.watcher.events(topic)
        if all(e.data.get(k) == v for k, v in match.items())
    ]


async def _back_from_zarinpal(market: Marketplace, authority: str) -> dict[str, Any]:
    """The payer's browser comes back from Zarinpal to the public callback URL."""
    async with httpx.AsyncClient(timeout=30) as browser:
        answer = await browser.get(
            f"{market.stack.public_url}/callbacks/zarinpal",
            params={"Authority": authority, "Status": "OK"},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _totals(market: Marketplace, currency: str) -> tuple[int, int]:
    """The gateway fees booked, from both sides of the payments ledger (expense, clearing)."""
    found = (await market.read("payments", "/ledger/totals"))["currencies"].get(currency, {})
    return (
        -found.get("accounts", {}).get("gateway-fees", 0),
        found.get("gateway", {}).get("gateway_fee", 0),
    )


def _fee_booked(before: tuple[int, int], after: tuple[int, int]) -> tuple[int, int]:
    """The fee booked between two readings: as the platform's expense, and (whatever its sign
    there: that they agree is reconciliation's check) on the gateway side."""
    return after[0] - before[0], abs(after[1] - before[1])


async def _wallet(market: Marketplace, user_id: str, currency: str, expected: int) -> None:
    async with asyncio.timeout(30):
        while (await market.read("payments", f"/wallets/{user_id}"))["balances"].get(
            currency, 0
        ) != expected:
            await asyncio.sleep(0.1)


#: what `escrowctl reconcile` may find while messages are still in flight between the services
IN_FLIGHT = (
    "received but not accounted for",
    "payments and escrow disagree on the money in escrow",
    "payments and escrow disagree on the platform fees",
)


async def _reconciled(market: Marketplace, timeout: float = 60) -> dict[str, Books]:
    """The books once nothing is in flight (no difference, both services agree), checked to
    show no other mismatch at once, then `escrowctl reconcile` run on them (`Marketplace`)."""
    env = {"ESCROW_VAR_DIR": str(market.stack.config.var_dir)}

    def read() -> list[Books]:
        with _environment(env):
            config = CliConfig.load()
        return fetch(config)

    async with asyncio.timeout(timeout):
        while any(
            problem.endswith(IN_FLIGHT)
            for book in await asyncio.to_thread(read)
            for problem in book.mismatches
        ):
            await asyncio.sleep(0.2)
    found = {book.currency: book for book in await asyncio.to_thread(read)}
    assert {c: b.mismatches for c, b in found.items() if b.mismatches} == {}
    await market.reconciled(timeout=10)
    return found


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- IRR: Zarinpal in, Vandar out ------------------------------------------------------------


async def test_irr_paid_at_zarinpal_with_its_fee_released_and_paid_out_through_vandar(
    live: Marketplace, psps: Psps
):
    market, zarinpal, vandar = live, psps.zarinpal, psps.vandar
    emp, con, escrow_id = "lp1-emp", "lp1-con", "lp1-e"
    amount, fee = 5_000_000, 12_500
    fees_before = await _totals(market, "IRR")
    await market.contract("lp1-c", emp, con, None)
    await market.create(escrow_id, "lp1-c", emp, amount, wire.EscrowKind.INSTANT)

    started = await market.start("lp1-pay", escrow_id, emp, amount, "IRR")
    assert started["gateway"] == "zarinpal"
    assert started["redirect_url"].startswith(f"{psps.zarinpal_url}/pg/StartPay/A")
    authority = started["redirect_url"].rsplit("/", 1)[1]
    session = zarinpal.sessions[authority]
    assert session.amount == amount and session.request["currency"] == "IRR"
    assert session.request["callback_url"] == f"{market.stack.public_url}/callbacks/zarinpal"
    assert session.request["metadata"] == {"order_id": "lp1-pay"}

    # the payer pays at Zarinpal (which keeps its merchant fee) and is sent back
    async with httpx.AsyncClient(timeout=30) as browser:
        (await browser.get(started["redirect_url"])).raise_for_status()
    session.fee_type, session.fee = "Merchant", fee
    zarinpal.pay(authority)
    answer = await _back_from_zarinpal(market, authority)
    assert answer == {"payment_id": "lp1-pay", "status": "received", "received": True}
    received = await market.event("payment-received", payment_id="lp1-pay")
    assert (received["gateway"], received["reference"], received["guaranteed"]) == (
        "zarinpal",
        str(session.ref_id),
        True,
    )
    assert session.state == "verified"
    # the escrow is funded with the whole amount; the platform bears the gateway's fee
    assert (await market.state(escrow_id, "funded")).held == amount
    fees_after = await _totals(market, "IRR")
    assert _fee_booked(fees_before, fees_after) == (fee, fee)

    await market.ok(wire.DeliverWork(actor=market.contractor(con), escrow_id=escrow_id))
    await market.ok(wire.ReleaseEscrow(actor=market.employer(emp), escrow_id=escrow_id))
    released = await market.state(escrow_id, "released")
    net = amount - released.fees_charged
    assert (released.held, net) == (0, 4_500_000)
    await _wallet(market, con, "IRR", net)

    # the payout: Vandar takes the settlement, which stays PENDING until the bank pays it
    await market.ok(
        RequestPayout(
            actor=market.contractor(con),
            payout_id="lp1-out",
            amount=net,
            currency="IRR",
            iban=SHEBA,
        )
    )
    track_id = track_id_for("lp1-out")
    settlement = await _until(lambda: vandar.settlements.get(track_id), "the vandar settlement")
    assert (settlement.iban, settlement.amount_toman, settlement.status) == (
        SHEBA,
        net // 10,
        "PENDING",
    )

    def stores() -> list[Any]:
        return [
            body
            for method, path, body in vandar.requests
            if method == "POST" and path.endswith("/settlement/store")
        ]

    # asked again and again (the same track id each time) while it is under way
    await _until(lambda: len(stores()) >= 3, "the payout worker to poll the settlement")
    assert {body["track_id"] for body in stores()} == {track_id}
    assert not _seen(market, "payout-completed", payout_id="lp1-out")
    assert not _seen(market, "payout-failed", payout_id="lp1-out")
    pending = await market.read("payments", "/payouts/lp1-out")
    assert (pending["status"], pending["gateway"]) == ("pending", "vandar")
    await _wallet(market, con, "IRR", 0)

    vandar.complete(track_id)
    paid = await market.event("payout-completed", payout_id="lp1-out")
    assert (paid["amount"], paid["currency"], paid["reference"]) == (
        net,
        "IRR",
        str(settlement.transaction_id),
    )
    assert paid["iban_masked"] == SHEBA[:4] + "*" * 18 + SHEBA[-4:]
    # exactly one settlement left the business wallet, in toman
    assert [s.track_id for s in vandar.settlements.values()] == [track_id]
    assert vandar.wallet == VANDAR_WALLET_TOMAN - net // 10
    assert (await market.read("payments", "/payouts/lp1-out"))["status"] == "completed"

    books = await _reconciled(market)
    assert (books["IRR"].difference, books["IRR"].gateway_fees) == (0, fees_after[0])


async def test_irr_payment_for_an_escrow_cancelled_meanwhile_is_refunded_at_zarinpal(
    live: Marketplace, psps: Psps
):
    market, zarinpal = live, psps.zarinpal
    emp, con, escrow_id, amount = "lp2-emp", "lp2-con", "lp2-e", 300_000
    await market.contract("lp2-c", emp, con, None)
    await market.create(escrow_id, "lp2-c", emp, amount, wire.EscrowKind.INSTANT)
    started = await market.start("lp2-pay", escrow_id, emp, amount, "IRR")
    authority = started["redirect_url"].rsplit("/", 1)[1]
    await market.ok(wire.CancelEscrow(actor=market.employer(emp), escrow_id=escrow_id))
    await market.state(escrow_id, "cancelled")

    zarinpal.pay(authority)
    assert (await _back_from_zarinpal(market, authority))["received"] is True
    rejected = await market.event("funding-rejected", escrow_id=escrow_id)
    assert rejected["reason_code"] == "not_awaiting_payment"
    refund = await market.event("refund-completed", escrow_id=escrow_id)
    assert (refund["amount"], refund["cause"], refund["currency"]) == (
        amount,
        "funding_rejected",
        "IRR",
    )

    # Zarinpal refunded the session once, to the card, marked with our transfer id
    session = zarinpal.sessions[authority]
    assert len(session.refunds) == 1
    made = session.refunds[0]
    assert (made.id, made.amount, made.method) == (refund["reference"], amount, "CARD")
    assert f"[{refund['refund_id']}]" in made.description
    assert session.refundable == 0
    calls = [c for c in zarinpal.graphql if c["variables"].get("session_id") == session.id]
    assert [c["operation"] for c in calls] == ["AddRefund"]
    assert calls[0]["authorization"] == f"Bearer {zarinpal.access_token}"
    assert (await market.read("payments", f"/refunds/{refund['refund_id']}"))[
        "status"
    ] == "completed"
    await _reconciled(market)


async def test_irr_payment_whose_callback_never_comes_is_received_by_inquiry(
    live: Marketplace, psps: Psps
):
    market, zarinpal = live, psps.zarinpal
    emp, con, escrow_id, amount = "lp3-emp", "lp3-con", "lp3-e", 800_000
    await market.contract("lp3-c", emp, con, None)
    await market.create(escrow_id, "lp3-c", emp, amount, wire.EscrowKind.INSTANT)
    started = await market.start("lp3-pay", escrow_id, emp, amount, "IRR")
    authority = started["redirect_url"].rsplit("/", 1)[1]

    def asked(verify: bool) -> list[dict[str, Any]]:
        """Zarinpal's inquiry.json (authority) or verify.json (authority and amount) of it."""
        return [
            body
            for body in zarinpal.requests
            if body.get("authority") == authority and ("amount" in body) == verify
        ]

    # the payer is still at the bank: the inquiry finds it IN_BANK and leaves it open
    await _until(lambda: asked(verify=False), "the inquiry worker to ask zarinpal")
    assert not _seen(market, "payment-received", payment_id="lp3-pay")
    assert not _seen(market, "payment-failed", payment_id="lp3-pay")

    zarinpal.pay(authority)  # and closes the browser: no callback ever comes
    received = await market.event("payment-received", payment_id="lp3-pay")
    session = zarinpal.sessions[authority]
    assert (received["gateway"], received["reference"]) == ("zarinpal", str(session.ref_id))
    assert session.state == "verified" and asked(verify=True)
    assert (await market.state(escrow_id, "funded")).held == amount
    payment = await market.read("payments", "/payments/lp3-pay")
    assert (payment["status"], payment["fee"]) == ("received", session.fee)
    await _reconciled(market)


# --- USD: Stripe in and out ----------------------------------------------------------------


async def test_usd_paid_at_stripe_partly_refunded_and_paid_out_through_connect(
    live: Marketplace, psps: Psps
):
    market, stripe = live, psps.stripe
    emp, con, escrow_id = "lp4-emp", "lp4-con", "lp4-e"
    amount, fee, refunded = 10_000, 320, 4_000  # cents
    fees_before = await _totals(market, "USD")
    await market.contract("lp4-c", emp, con, None, currency="USD")
    await market.create(escrow_id, "lp4-c", emp, amount, wire.EscrowKind.INSTANT)

    started = await market.start("lp4-pay", escrow_id, emp, amount, "USD")
    assert started["gateway"] == "stripe"
    session_id = started["redirect_url"].rsplit("/", 1)[1]
    assert started["redirect_url"] == f"{psps.stripe_url}/c/pay/{session_id}"
    session = stripe.objects[session_id]
    assert (session["amount_total"], session["currency"], session["client_reference_id"]) == (
        amount,
        "usd",
        "lp4-pay",
    )

    # the payer pays at Checkout; Stripe's signed webhook reaches the public callback
    stripe.pay(session_id, fee=fee)
    body, headers = stripe.signed_webhook("checkout.session.completed", session_id)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{market.stack.public_url}/callbacks/stripe",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] is True
    received = await market.event("payment-received", payment_id="lp4-pay")
    intent = stripe.objects[session_id]["payment_intent"]
    assert (received["gateway"], received["reference"], received["currency"]) == (
        "stripe",
        intent,
        "USD",
    )
    await market.state(escrow_id, "funded")
    assert _fee_booked(fees_before, await _totals(market, "USD")) == (fee, fee)

    # part goes back to the employer's card through Stripe Refunds, the rest is released
    await market.ok(wire.DeliverWork(actor=market.contractor(con), escrow_id=escrow_id))
    await market.ok(
        wire.RefundEscrow(actor=market.contractor(con), escrow_id=escrow_id, amount=refunded)
    )
    refund = await market.event("refund-completed", escrow_id=escrow_id)
    assert (refund["amount"], refund["cause"], refund["currency"]) == (
        refunded,
        "escrow_refunded",
        "USD",
    )
    made = [r for r in stripe.refunds if r["payment_intent"] == intent]
    assert [(r["id"], r["amount"], r["status"]) for r in made] == [
        (refund["reference"], refunded, "succeeded")
    ]
    assert made[0]["metadata"] == {"transfer_id": refund["refund_id"]}

    await market.ok(wire.ReleaseEscrow(actor=market.employer(emp), escrow_id=escrow_id))
    settled = await market.state(escrow_id, "settled")
    net = amount - refunded - settled.fees_charged
    assert (settled.held, net) == (0, 5_400)
    await _wallet(market, con, "USD", net)

    # the payout: a Connect transfer to the contractor's account, then its payout, pending
    # until Stripe says it is paid
    await market.ok(
        RequestPayout(
            actor=market.contractor(con),
            payout_id="lp4-out",
            amount=net,
            currency="USD",
            iban=IBAN_DE,
            payout_account=CONNECTED,
        )
    )
    payout = await _until(lambda: next(iter(stripe.payouts(CONNECTED)), None), "stripe's payout")
    assert (payout["amount"], payout["currency"], payout["status"]) == (net, "usd", "pending")
    assert payout["metadata"] == {"transfer_id": "lp4-out"}
    assert [(t["destination"], t["amount"], t["transfer_group"]) for t in stripe.transfers] == [
        (CONNECTED, net, "lp4-out")
    ]
    # asked again while it is pending; found, never made a second time
    await _until(
        lambda: (
            len([r for r in stripe.requests if r.path == "/v1/payouts" and r.method == "GET"]) >= 2
        ),
        "the payout worker to poll the payout",
    )
    assert not _seen(market, "payout-completed", payout_id="lp4-out")

    stripe.complete_payout(payout["id"])
    paid = await market.event("payout-completed", payout_id="lp4-out")
    assert (paid["amount"], paid["currency"], paid["reference"]) == (net, "USD", payout["id"])
    assert len(stripe.payouts(CONNECTED)) == 1 and len(stripe.transfers) == 1
    assert len(stripe.posts("/v1/payouts")) == 1 and len(stripe.posts("/v1/transfers")) == 1
    assert stripe.accounts[CONNECTED] == 0
    await _wallet(market, con, "USD", 0)

    usd = (await _reconciled(market))["USD"]
    assert (usd.received, usd.refunded, usd.paid_out, usd.fees, usd.in_flight) == (
        amount,
        refunded,
        net,
        settled.fees_charged,
        0,
    )
    assert (usd.difference, usd.gateway_fees) == (0, fees_before[0] + fee)
