"""A local stand-in for Zarinpal: its REST v4 payment gateway (request, StartPay, verify, inquiry,
unVerified) and the part of its GraphQL API that refunds (`Terminals`, `Session`, `AddRefund`),
answering as the documentation shows (see `payments.adapters.gateways.zarinpal` for the
sources), so the adapter is tested over HTTP against documented success and failure answers.

Tests steer it: `pay`/`cancel`/`reverse` are what the payer (or the bank) did; a session's
`fee_type`/`fee` set what verify reports; `terminal_problem` makes every REST call answer one of
the merchant-configuration codes (-14/-15/-16); `fault(operation, kind)` makes the next call of
an operation time out (before or after doing its work), answer 500, or (GraphQL) answer
`errors` without `data`. Every request is recorded
in `requests` (REST bodies) and `graphql` (operation, variables, authorization header).

Where the docs show no example (the inquiry answer's exact shape, GraphQL error messages, the
`refunds` of a `Session`), the fake answers in the same shape as the documented answers.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

MIN_AMOUNT = 1_000  # rials; smaller amounts fail validation (-9)
MIN_REFUND = 20_000  # rials (the refund docs)
REFUND_METHODS = {"CARD", "PAYA"}
REFUND_REASONS = {"CUSTOMER_REQUEST", "DUPLICATE_TRANSACTION", "SUSPICIOUS_TRANSACTION", "OTHER"}
#: the error list's wording
TERMINAL_PROBLEMS = {
    -14: "The callback URL domain does not match the registered terminal domain.",
    -15: "Terminal user is suspend : (please contact our support team).",
    -16: "Terminal user level is not valid : ( please contact our support team).",
}
#: what inquiry.json says of each state of a session
INQUIRY_STATUS = {
    "pending": "IN_BANK",
    "paid": "PAID",
    "verified": "VERIFIED",
    "cancelled": "FAILED",
    "reversed": "REVERSED",
}
FaultKind = Literal["timeout", "timeout_after_work", "500", "errors"]
Handler = Callable[[Request], Awaitable[Response]]


def _error(code: int, message: str, status: int = 422, **extra: Any) -> JSONResponse:
    return JSONResponse({"data": [], "errors": {"code": code, "message": message, **extra}}, status)


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"data": data, "errors": []})


def _refused(message: str, *, field: str = "resource") -> JSONResponse:
    """A GraphQL refusal: the operation ran and answered null, with why."""
    return JSONResponse({"data": {field: None}, "errors": [{"message": message}]})


@dataclass
class Refund:
    id: str
    amount: int
    description: str
    method: str
    reason: str


@dataclass
class Session:
    authority: str
    merchant_id: str
    amount: int
    request: dict[str, Any]
    #: the session's "transaction number", what AddRefund's session_id names
    id: str
    state: str = "pending"  # pending → paid | cancelled; paid → verified; → reversed
    ref_id: int | None = None
    fee_type: str = "Merchant"
    fee: int = 100
    refunds: list[Refund] = field(default_factory=list)

    @property
    def refundable(self) -> int:
        return self.amount - sum(r.amount for r in self.refunds)


@dataclass
class FakeZarinpal:
    merchant_id: str
    access_token: str = "zp-access-token"
    terminal_id: str = "1915487"
    #: -14, -15 or -16: every REST call answers it until cleared
    terminal_problem: int | None = None
    #: how long a "timeout" fault keeps the caller waiting (longer than the test client waits)
    delay_s: float = 2.0
    sessions: dict[str, Session] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    graphql: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, FaultKind] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(217885159))

    # --- what the payer and the bank do ------------------------------------------------------

    def pay(self, authority: str) -> None:
        self.sessions[authority].state = "paid"

    def cancel(self, authority: str) -> None:
        self.sessions[authority].state = "cancelled"

    def reverse(self, authority: str) -> None:
        self.sessions[authority].state = "reversed"

    def fault(self, operation: str, kind: FaultKind) -> None:
        """The next call of `operation` (`request`, `verify`, `inquiry`, `unVerified`, or a
        GraphQL operation name) times out, before or after its work, or answers 500."""
        self.faults[operation] = kind

    def refunds(self) -> list[Refund]:
        return [r for s in self.sessions.values() for r in s.refunds]

    # --- the payment gateway (REST) ----------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        return body

    def _refusal(self, body: dict[str, Any]) -> Response | None:
        if self.terminal_problem is not None:
            return _error(self.terminal_problem, TERMINAL_PROBLEMS[self.terminal_problem])
        if body.get("merchant_id") != self.merchant_id and "authority" not in body:
            return _error(-10, "Terminal is not valid, please check merchant_id or ip address.")
        return None

    def _session_of(self, body: dict[str, Any]) -> Session | Response:
        """The session a verify or inquiry asks about, or Zarinpal's refusal to answer."""
        if refused := self._refusal(body):
            return refused
        session = self.sessions.get(str(body.get("authority")))
        if session is None:
            return _error(-54, "Invalid authority.")
        if session.merchant_id != body.get("merchant_id"):
            return _error(-53, "Session is not this merchant_id session.")
        return session

    async def request(self, request: Request) -> Response:
        body = await self._body(request)
        if refused := self._refusal(body):
            return refused
        amount = body.get("amount")
        missing = [k for k in ("description", "callback_url") if not body.get(k)]
        if not isinstance(amount, int) or amount < MIN_AMOUNT or missing:
            return _error(
                -9,
                "The input params invalid, validation error.",
                validations=[{"amount": "The amount must be at least 1000."}, *missing],
            )
        authority = f"A{next(self._numbers):035d}"
        session_id = str(next(self._numbers))
        self.sessions[authority] = Session(
            authority, body["merchant_id"], amount, body, id=session_id
        )
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
        body = await self._body(request)
        session = self._session_of(body)
        if isinstance(session, Response):
            return session
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
                "fee_type": session.fee_type,
                "fee": session.fee,
            }
        )

    async def inquiry(self, request: Request) -> Response:
        body = await self._body(request)
        session = self._session_of(body)
        if isinstance(session, Response):
            return session
        return _ok({"code": 100, "message": "Success", "status": INQUIRY_STATUS[session.state]})

    async def unverified(self, request: Request) -> Response:
        body = await self._body(request)
        if refused := self._refusal(body):
            return refused
        paid = [s for s in self.sessions.values() if s.state == "paid"][-100:]
        authorities = [
            {
                "authority": s.authority,
                "amount": s.amount,
                "callback_url": s.request["callback_url"],
                "referer": "",
                "date": "2020-07-01 17:33:25",
            }
            for s in paid
            if s.merchant_id == body.get("merchant_id")
        ]
        # the documented example gives the code as a string
        return _ok({"code": "100", "message": "Success", "authorities": authorities})

    async def start_pay(self, request: Request) -> Response:
        authority = request.path_params["authority"]
        if authority not in self.sessions:
            return HTMLResponse("<h1>Unknown</h1>", status_code=404)
        return HTMLResponse(f"<h1>Zarinpal (fake): {authority}</h1>")

    # --- the GraphQL API ---------------------------------------------------------------------

    async def graphql_endpoint(self, request: Request) -> Response:
        body = await request.json()
        operation = str(body.get("operationName"))
        variables = body.get("variables") or {}
        self.graphql.append(
            {
                "operation": operation,
                "variables": variables,
                "authorization": request.headers.get("authorization"),
                "query": body.get("query"),
            }
        )
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return JSONResponse({"errors": [{"message": "Unauthenticated."}]}, 401)
        resolve = {
            "Terminals": self._terminals,
            "Session": self._session_query,
            "AddRefund": self._add_refund,
        }.get(operation)
        if resolve is None:
            return JSONResponse({"errors": [{"message": f"unknown operation {operation}"}]})
        return resolve(variables)

    def _terminals(self, variables: dict[str, Any]) -> Response:
        terminals = [
            {"id": "1000001", "key": "00000000-0000-0000-0000-000000000000"},
            {"id": self.terminal_id, "key": self.merchant_id},
        ]
        return JSONResponse({"data": {"Terminals": terminals}})

    def _session_query(self, variables: dict[str, Any]) -> Response:
        if variables.get("terminal_id") != self.terminal_id:
            return _refused("The selected terminal id is invalid.", field="Session")
        found = [
            {
                "id": s.id,
                "amount": s.amount,
                "refunds": [
                    {"id": r.id, "amount": r.amount, "description": r.description}
                    for r in s.refunds
                ],
            }
            for s in self.sessions.values()
            if s.ref_id is not None and str(s.ref_id) == variables.get("reference_id")
        ]
        return JSONResponse({"data": {"Session": found}})

    def _add_refund(self, variables: dict[str, Any]) -> Response:
        session = next(
            (s for s in self.sessions.values() if s.id == variables.get("session_id")), None
        )
        amount = variables.get("amount")
        if not isinstance(variables.get("session_id"), str) or session is None:
            return _refused("The selected session id is invalid.")
        if not isinstance(amount, int) or amount < MIN_REFUND:
            return _refused(f"The amount must be at least {MIN_REFUND}.")
        if variables.get("method") not in REFUND_METHODS:
            return _refused("The selected method is invalid.")
        if variables.get("reason") not in REFUND_REASONS:
            return _refused("The selected reason is invalid.")
        if not isinstance(variables.get("description"), str):
            return _refused("The description field is required.")
        if session.state != "verified":
            return _refused("The session is not verified.")
        if session.refundable <= 0:
            return _refused("The session is already refunded.")
        if amount > session.refundable:
            return _refused("The amount is more than the refundable amount.")
        refund = Refund(
            str(next(self._numbers)),
            amount,
            variables["description"],
            variables["method"],
            variables["reason"],
        )
        session.refunds.append(refund)
        status = "PENDING" if refund.method == "PAYA" else "DONE"
        return JSONResponse(
            {
                "data": {
                    "resource": {
                        "id": refund.id,
                        "terminal_id": self.terminal_id,
                        "amount": session.amount,
                        "timeline": {
                            "refund_amount": amount,
                            "refund_time": "2026-12-01T10:00:00+03:30",
                            "refund_status": status,
                        },
                    }
                }
            }
        )

    # --- faults ------------------------------------------------------------------------------

    def _faulty(self, operation: str | None, handler: Handler) -> Handler:
        """`handler`, unless a fault is set for its operation (GraphQL: read from the body)."""

        async def handle(request: Request) -> Response:
            name = operation or str((await request.json()).get("operationName"))
            kind = self.faults.pop(name, None)
            if kind == "500":
                return JSONResponse({"errors": [{"message": "Internal Server Error"}]}, 500)
            if kind == "errors":  # a GraphQL failure that ran nothing: errors, no data
                return JSONResponse({"errors": [{"message": "Internal server error"}]})
            if kind == "timeout":
                await asyncio.sleep(self.delay_s)
            response = await handler(request)
            if kind == "timeout_after_work":
                await asyncio.sleep(self.delay_s)  # the work is done, the answer comes too late
            return response

        return handle

    def app(self) -> Starlette:
        rest = {
            "request": self.request,
            "verify": self.verify,
            "inquiry": self.inquiry,
            "unVerified": self.unverified,
        }
        return Starlette(
            routes=[
                *(
                    Route(f"/pg/v4/payment/{name}.json", self._faulty(name, h), methods=["POST"])
                    for name, h in rest.items()
                ),
                Route("/pg/StartPay/{authority}", self.start_pay),
                Route(
                    "/api/v4/graphql/",
                    self._faulty(None, self.graphql_endpoint),
                    methods=["POST"],
                ),
            ]
        )
