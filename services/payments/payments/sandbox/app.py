"""The sandbox gateway's HTTP API, payment page and control endpoint (a Starlette app).

Merchant API (header `X-Api-Key: <secret>`): `POST /api/v1/payments`, `POST /api/v1/verify`,
`POST /api/v1/payouts`, `POST /api/v1/refunds` (both idempotent on their ids), and
`GET /api/v1/settled?since=&until=&limit=` (ISO 8601 times: the payments opened in that window
and paid, oldest first, with `complete` false when the window starts before the sandbox did or
`limit`, at most 10 000, cut the list).
Payer: `GET /pay/{token}` shows a page; `POST /pay/{token}` (form, or JSON
`{"outcome": "paid"|"failed", "amount": …}`) settles it and sends the signed callback.
Test control: `GET|POST /control`, `POST /control/reset`, `GET /state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from payments.adapters.gateways.http import KEEPALIVE_S
from payments.sandbox.settings import SandboxSettings
from payments.sandbox.signing import API_KEY_HEADER, SIGNATURE_HEADER, sign
from payments.sandbox.state import (
    Behaviour,
    Declined,
    Outage,
    Sandbox,
    SandboxPayment,
    Unknown,
)

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
MerchantCall = Callable[[dict[str, Any]], dict[str, Any]]
SETTLED_LIMIT = 10_000


class SandboxGatewayApp:
    """The endpoints over one in-memory `Sandbox`."""

    def __init__(self, settings: SandboxSettings, sandbox: Sandbox) -> None:
        self.settings = settings
        self.state = sandbox
        self.secret = settings.secret.get_secret_value()
        self._background: set[asyncio.Task[Any]] = set()
        # One client for every callback (a client per callback rebuilt its TLS context each time)
        self.callbacks = httpx.AsyncClient(
            timeout=10.0, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await self.callbacks.aclose()

    # --- merchant API ----------------------------------------------------------------------

    def merchant(self, call: MerchantCall, created: int = 200) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            if request.headers.get(API_KEY_HEADER) != self.secret:
                return JSONResponse({"error": "unauthorized"}, status_code=401)
            try:
                return JSONResponse(call(await request.json()), status_code=created)
            except Unknown as exc:
                return JSONResponse({"status": "unknown", "reason": str(exc)}, 404)
            except (KeyError, ValueError, TypeError) as exc:
                return JSONResponse({"status": "declined", "reason": repr(exc)}, 400)
            except Declined as exc:
                return JSONResponse({"status": "declined", "reason": str(exc)}, 422)
            except Outage as exc:
                return JSONResponse({"status": "unavailable", "reason": str(exc)}, 503)

        return endpoint

    def create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self.state.create_payment(body)
        url = f"{self.settings.base_url}/pay/{payment.token}"
        return {"token": payment.token, "redirect_url": url}

    def verify(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.state.find(str(body["token"])).verification()

    def payout(self, body: dict[str, Any]) -> dict[str, Any]:
        record = self.state.payout(body)
        return {"status": record.status, "reference": record.reference}

    def refund(self, body: dict[str, Any]) -> dict[str, Any]:
        record = self.state.refund(body)
        return {"status": record.status, "reference": record.reference}

    async def settled(self, request: Request) -> Response:
        if request.headers.get(API_KEY_HEADER) != self.secret:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        query = request.query_params
        try:
            since = datetime.fromisoformat(query["since"])
            until = datetime.fromisoformat(query["until"])
            limit = int(query.get("limit", str(SETTLED_LIMIT)))
            if since.tzinfo is None or until.tzinfo is None or not 1 <= limit <= SETTLED_LIMIT:
                raise ValueError("since and until carry a time zone; limit is 1 to 10000")
        except (KeyError, ValueError) as exc:
            return JSONResponse({"status": "declined", "reason": repr(exc)}, 400)
        return JSONResponse(self.state.settled(since, until, limit))

    # --- the payer -------------------------------------------------------------------------

    async def show(self, request: Request) -> Response:
        payment = self.state.payments.get(request.path_params["token"])
        if payment is None:
            return HTMLResponse("<h1>Unknown payment</h1>", status_code=404)
        return HTMLResponse(_page(payment))

    async def pay(self, request: Request) -> Response:
        token = request.path_params["token"]
        wants_json = "json" in request.headers.get("content-type", "")
        form: Any = await (request.json() if wants_json else _posted_form(request))
        if token not in self.state.payments:
            return JSONResponse({"error": "unknown token"}, status_code=404)
        amount = form.get("amount")
        try:
            payment = self.state.pay(
                token, str(form.get("outcome")), int(amount) if amount else None
            )
        except Declined as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        callbacks = await self._deliver(payment)
        if wants_json:
            return JSONResponse({"token": token, "status": payment.status, "callbacks": callbacks})
        return HTMLResponse(f"<h1>Payment {html.escape(payment.status)}</h1>")

    # --- callbacks -------------------------------------------------------------------------

    async def _deliver(self, payment: SandboxPayment) -> list[int]:
        """Send the callback now (its HTTP answers are returned), or later when told to delay."""
        behaviour = self.state.behaviour
        if not behaviour.send_callbacks:
            return []
        if behaviour.callback_delay_ms:
            task = asyncio.create_task(self._later(payment, behaviour.callback_delay_ms / 1000))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return []
        return await self._send_callbacks(payment)

    async def _later(self, payment: SandboxPayment, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._send_callbacks(payment)

    async def _send_callbacks(self, payment: SandboxPayment) -> list[int]:
        behaviour = self.state.behaviour
        claim = payment.verification()
        if behaviour.callback_amount is not None:
            claim["amount"] = behaviour.callback_amount
        body = json.dumps(claim).encode()
        key = f"not-the-{self.secret}" if behaviour.forge_callbacks else self.secret
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(key, body)}
        answers = []
        for _ in range(max(behaviour.callback_copies, 1)):
            try:
                url = payment.callback_url
                sent = await self.callbacks.post(url, content=body, headers=headers)
                answers.append(sent.status_code)
            except httpx.HTTPError as exc:
                log.warning("callback to %s failed: %r", payment.callback_url, exc)
                answers.append(0)
        return answers

    # --- control ---------------------------------------------------------------------------

    async def control(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.state.behaviour.update(await request.json())
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.state.snapshot()["behaviour"])

    async def reset(self, request: Request) -> Response:
        self.state.behaviour = Behaviour()
        return JSONResponse({"reset": True})

    async def snapshot(self, request: Request) -> Response:
        return JSONResponse(self.state.snapshot())

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/payments", self.merchant(self.create_payment, 201), methods=["POST"]),
            Route("/api/v1/verify", self.merchant(self.verify), methods=["POST"]),
            Route("/api/v1/payouts", self.merchant(self.payout), methods=["POST"]),
            Route("/api/v1/refunds", self.merchant(self.refund), methods=["POST"]),
            Route("/api/v1/settled", self.settled, methods=["GET"]),
            Route("/pay/{token}", self.show, methods=["GET"]),
            Route("/pay/{token}", self.pay, methods=["POST"]),
            Route("/control", self.control, methods=["GET", "POST"]),
            Route("/control/reset", self.reset, methods=["POST"]),
            Route("/state", self.snapshot),
            Route("/health", lambda request: JSONResponse({"status": "live"})),
        ]


def create_app(
    settings: SandboxSettings | None = None, sandbox: Sandbox | None = None
) -> Starlette:
    gateway = SandboxGatewayApp(settings or SandboxSettings(), sandbox or Sandbox())
    app = Starlette(routes=gateway.routes(), lifespan=gateway.lifespan)
    app.state.sandbox = gateway.state
    return app


def _page(payment: SandboxPayment) -> str:
    amount = f"{payment.amount} {html.escape(payment.currency)}"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sandbox gateway</title></head>
<body>
<h1>Sandbox gateway</h1>
<p>{html.escape(payment.description or payment.order_id)}: <strong>{amount}</strong></p>
<p>Status: {html.escape(payment.status)}</p>
<form method="post"><input type="hidden" name="outcome" value="paid">
<button type="submit">Pay</button></form>
<form method="post"><input type="hidden" name="outcome" value="failed">
<button type="submit">Fail the payment</button></form>
</body></html>"""


#: the largest payment-page form the sandbox reads (its two buttons post a few bytes)
MAX_FORM_BYTES = 4096


async def _posted_form(request: Request) -> dict[str, str]:
    """The payment page's form as a browser posts it (`application/x-www-form-urlencoded`),
    read with the standard library: Starlette's `request.form()` needs python-multipart, which
    the service does not ship, and answered 500 to the page's buttons."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:  # more fields than the page has
        return {}
    return dict(pairs)
