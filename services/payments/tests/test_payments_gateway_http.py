"""How the gateway adapters use HTTP, seen from the server's side of the sockets: one kept-alive
connection per adapter (not one per call), closed when the adapter or the service closes; and
`post_json`'s classification of what a PSP answered."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from payments.adapters.gateways.http import gateway_client, post_json
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.adapters.gateways.zarinpal import ZarinpalGateway
from payments.domain.gateway import GatewayUnavailable, PaymentRequest
from payments.sandbox.app import create_app
from payments.sandbox.settings import SandboxSettings
from payments.sandbox.signing import DEV_SECRET
from payments.sandbox.state import Sandbox
from payments.testing.fake_zarinpal import FakeZarinpal
from pydantic import SecretStr
from shared.devstack.processes import free_port
from shared.testing.servers import Served, listening
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

MERCHANT = "1344b5d4-0048-11e8-94db-005056a205be"
#: the fakes keep idle connections far longer than any test runs, so a connection that closes
#: was closed by the client
KEEP_ALIVE_S = 600


def request(payment_id: str = "pay-1") -> PaymentRequest:
    return PaymentRequest(payment_id, 10_000, "IRR", "", "http://shop.example/callbacks/x")


async def closed_by_client(served: Served) -> None:
    """Wait until the server has seen every connection to it closed."""
    async with asyncio.timeout(20):
        while served.open_connections:
            await asyncio.sleep(0.01)


@pytest.fixture
async def zarinpal() -> AsyncIterator[tuple[FakeZarinpal, Served]]:
    fake = FakeZarinpal(MERCHANT)
    async with listening(fake.app(), keep_alive_s=KEEP_ALIVE_S) as served:
        yield fake, served


@pytest.fixture
async def sandbox() -> AsyncIterator[Served]:
    port = free_port()
    app = create_app(SandboxSettings(port=port, secret=SecretStr(DEV_SECRET)), Sandbox())
    async with listening(app, port, keep_alive_s=KEEP_ALIVE_S) as served:
        yield served


async def test_a_zarinpal_adapter_makes_its_calls_over_one_connection_until_closed(zarinpal):
    fake, served = zarinpal
    adapter = ZarinpalGateway(MERCHANT, api_url=served.url, timeout=5)

    session = await adapter.open_payment(request())
    fake.pay(session.token)
    verified = await adapter.verify(session.token, 10_000, "IRR")

    assert verified.status == "paid"
    assert len(served.peers) == 2 and served.connections == 1
    assert served.open_connections == 1  # kept alive for the next call

    await adapter.aclose()
    assert adapter.http.is_closed
    await closed_by_client(served)


async def test_a_sandbox_adapter_makes_its_calls_over_one_connection_until_closed(sandbox):
    adapter = SandboxGateway(sandbox.url, DEV_SECRET, timeout=5)

    session = await adapter.open_payment(request())
    verification = await adapter.verify(session.token, 10_000, "IRR")

    assert verification.status == "pending"
    assert len(sandbox.peers) == 2 and sandbox.connections == 1
    assert sandbox.open_connections == 1

    await adapter.aclose()
    assert adapter.http.is_closed
    await closed_by_client(sandbox)


@pytest.mark.integration
async def test_the_service_closes_its_gateway_connections_when_it_stops(start_payments, zarinpal):
    fake, served = zarinpal
    settings = {
        "payment_gateways": {"IRR": "zarinpal"},
        "zarinpal_merchant_id": MERCHANT,
        "zarinpal_api_url": served.url,
        "zarinpal_startpay_url": f"{served.url}/pg/StartPay/",
    }
    async with start_payments(**settings) as payments:
        result, payment_id = await payments.start_payment(50_000, escrow_id="esc-http")
        assert result.accepted
        started = await payments.wait_event("payment-started", payment_id=payment_id)
        authority = started["redirect_url"].rsplit("/", 1)[1]
        fake.pay(authority)
        back = await payments.http.get(f"/callbacks/zarinpal?Authority={authority}&Status=OK")
        assert back.status_code == 200  # verified with zarinpal just now…
        assert served.open_connections >= 1  # …over a connection the adapter keeps
    await closed_by_client(served)  # the stopping service closed it


# --- post_json ------------------------------------------------------------------------------


async def answer(request: Request) -> Response:
    """`/<status>/json` or `/<status>/text`; sets a cookie and tells whether one came back."""
    status, kind = int(request.path_params["status"]), request.path_params["kind"]
    response: Response = (
        JSONResponse({"cookie": request.headers.get("cookie")}, status)
        if kind == "json"
        else PlainTextResponse("<html>bad gateway</html>", status)
    )
    response.set_cookie("session", "from-the-psp")
    return response


@pytest.fixture
async def psp() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/{status:int}/{kind}", answer, methods=["POST"])])
    async with listening(app) as served:
        yield served.url


async def test_post_json_returns_answers_below_500_and_carries_no_cookies(psp):
    async with gateway_client(5) as client:
        first = await post_json(client, f"{psp}/200/json", {})
        refused = await post_json(client, f"{psp}/422/json", {})
    assert first == (200, {"cookie": None})
    assert refused == (422, {"cookie": None})  # the first answer's cookie was not kept


@pytest.mark.parametrize("path", ["500/json", "502/text", "400/text"])
async def test_post_json_a_5xx_or_an_unreadable_answer_is_unavailable(psp, path):
    async with gateway_client(5) as client:
        with pytest.raises(GatewayUnavailable):
            await post_json(client, f"{psp}/{path}", {})


async def test_post_json_no_answer_is_unavailable():
    async with gateway_client(5) as client:
        with pytest.raises(GatewayUnavailable, match="no answer"):
            await post_json(client, "http://127.0.0.1:9/api", {})  # nothing listens there
