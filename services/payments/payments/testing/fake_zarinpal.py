"""A local stand-in for Zarinpal's REST v4 payment gateway, answering as its documentation shows
(see `payments.adapters.gateways.zarinpal` for the sources), so the adapter is tested over HTTP
against documented success and failure answers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

MIN_AMOUNT = 1_000  # rials; smaller amounts fail validation (-9)


def _error(code: int, message: str, status: int = 422, **extra: Any) -> JSONResponse:
    return JSONResponse({"data": [], "errors": {"code": code, "message": message, **extra}}, status)


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"data": data, "errors": []})


@dataclass
class Session:
    authority: str
    merchant_id: str
    amount: int
    request: dict[str, Any]
    state: str = "pending"  # pending → paid | cancelled; paid → verified
    ref_id: int | None = None


@dataclass
class FakeZarinpal:
    merchant_id: str
    sessions: dict[str, Session] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(217885159))

    # --- what the payer does at StartPay ---------------------------------------------------

    def pay(self, authority: str) -> None:
        self.sessions[authority].state = "paid"

    def cancel(self, authority: str) -> None:
        self.sessions[authority].state = "cancelled"

    # --- the API ---------------------------------------------------------------------------

    async def request(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("merchant_id") != self.merchant_id:
            return _error(-10, "Terminal is not valid, please check merchant_id or ip address.")
        amount = body.get("amount")
        missing = [k for k in ("description", "callback_url") if not body.get(k)]
        if not isinstance(amount, int) or amount < MIN_AMOUNT or missing:
            return _error(
                -9,
                "The input params invalid, validation error.",
                validations=[{"amount": "The amount must be at least 1000."}, *missing],
            )
        authority = f"A{next(self._numbers):035d}"
        self.sessions[authority] = Session(authority, body["merchant_id"], amount, body)
        return _ok(
            {
                "code": 100,
                "message": "Success",
                "authority": authority,
                "fee_type": "Merchant",
                "fee": 100,
            }
        )

    async def verify(self, request: Request) -> Response:
        body = await request.json()
        session = self.sessions.get(str(body.get("authority")))
        if session is None:
            return _error(-54, "Invalid authority.")
        if session.merchant_id != body.get("merchant_id"):
            return _error(-53, "Session is not this merchant_id session.")
        if body.get("amount") != session.amount:
            return _error(-50, "Session is not valid, amounts values is not the same.")
        if session.state not in ("paid", "verified"):
            return _error(-51, "Session is not valid, session is not active paid try.")
        code, message = (101, "Verified") if session.state == "verified" else (100, "Paid")
        session.state = "verified"
        session.ref_id = session.ref_id or next(self._numbers)
        return _ok(
            {
                "code": code,
                "message": message,
                "card_hash": "1EBE3EBEBE35C7EC0F8D6EE4F2F859107A87822CA179BC9528767EA7B5489B69",
                "card_pan": "502229******5995",
                "ref_id": session.ref_id,
                "fee_type": "Merchant",
                "fee": 100,
            }
        )

    async def start_pay(self, request: Request) -> Response:
        authority = request.path_params["authority"]
        if authority not in self.sessions:
            return HTMLResponse("<h1>Unknown</h1>", status_code=404)
        return HTMLResponse(f"<h1>Zarinpal (fake): {authority}</h1>")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/pg/v4/payment/request.json", self.request, methods=["POST"]),
                Route("/pg/v4/payment/verify.json", self.verify, methods=["POST"]),
                Route("/pg/StartPay/{authority}", self.start_pay),
            ]
        )
