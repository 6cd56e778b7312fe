"""The client side of the built-in sandbox gateway (`payments.sandbox`), a PSP for development
and tests: payments with a redirect page, signed callbacks, verify, payouts and refunds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from payments.adapters.gateways.http import gateway_client, post_json, request_json
from payments.adapters.gateways.port import SETTLED_MAX_ITEMS, IncomingCallback
from payments.domain.errors import CallbackRejected, ForgedCallback
from payments.domain.gateway import (
    CallbackClaim,
    GatewayDeclined,
    GatewaySession,
    GatewayUnavailable,
    PaymentRequest,
    Settled,
    Settlements,
    Transfer,
    Verification,
)
from payments.sandbox.signing import API_KEY_HEADER, SIGNATURE_HEADER, is_signed_by

_STATUSES = {"paid", "failed", "pending"}


class SandboxGateway:
    name = "sandbox"

    def __init__(self, base_url: str, secret: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.http = gateway_client(timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await post_json(
            self.http, self.base_url + path, body, headers={API_KEY_HEADER: self.secret}
        )

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        status, answer = await self._post(
            "/api/v1/payments",
            {
                "order_id": request.payment_id,
                "amount": request.amount,
                "currency": request.currency,
                "description": request.description,
                "callback_url": request.callback_url,
            },
        )
        if status != 201:
            raise GatewayDeclined(f"sandbox refused the payment: {answer}")
        return GatewaySession(token=answer["token"], redirect_url=answer["redirect_url"])

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        if not is_signed_by(self.secret, callback.body, callback.headers.get(SIGNATURE_HEADER)):
            raise ForgedCallback("the sandbox callback's signature does not match")
        try:
            data = json.loads(callback.body)
            return CallbackClaim(
                token=str(data["token"]),
                status=str(data["status"]),
                amount=int(data["amount"]),
                currency=str(data["currency"]),
                order_id=str(data["order_id"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"unreadable sandbox callback: {exc!r}") from exc

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        status, answer = await self._post("/api/v1/verify", {"token": token})
        if status == 404:
            raise CallbackRejected(f"the sandbox does not know session {token}")
        if status != 200 or answer.get("status") not in _STATUSES:
            raise GatewayUnavailable(f"sandbox verify answered {status}: {answer}")
        return Verification(
            token=answer["token"],
            status=answer["status"],
            amount=answer["amount"],
            currency=answer["currency"],
            order_id=answer["order_id"],
            reference=answer.get("reference"),
            reason=answer.get("reason", ""),
        )

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        """The sandbox's verify already answers `pending` while the payer has not paid."""
        return await self.verify(token, amount, currency)

    async def unverified(self) -> Sequence[str]:
        return []

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        """`GET /api/v1/settled`: the paid payments opened in the window, one request of at most
        `SETTLED_MAX_ITEMS` (one more is asked for, to know the listing was cut); complete
        unless the sandbox started after `since` (it forgets everything when it restarts)."""
        query = urlencode(
            {"since": since.isoformat(), "until": until.isoformat(), "limit": SETTLED_MAX_ITEMS + 1}
        )
        status, answer = await request_json(
            self.http,
            "GET",
            f"{self.base_url}/api/v1/settled?{query}",
            headers={API_KEY_HEADER: self.secret},
        )
        if status != 200 or not isinstance(answer, dict):
            raise GatewayUnavailable(f"sandbox settled answered {status}: {answer}")
        try:
            items = tuple(
                Settled(str(p["token"]), int(p["amount"]), str(p["currency"]))
                for p in answer["payments"]
            )
            complete = bool(answer["complete"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayUnavailable(f"unreadable sandbox settled answer: {exc!r}") from exc
        truncated = len(items) > SETTLED_MAX_ITEMS
        return Settlements(items[:SETTLED_MAX_ITEMS], complete and not truncated, truncated)

    async def payout(self, transfer: Transfer) -> str:
        return await self._transfer(
            "/api/v1/payouts",
            {
                "payout_id": transfer.transfer_id,
                "amount": transfer.amount,
                "currency": transfer.currency,
                "iban": transfer.destination,
            },
        )

    async def refund(self, transfer: Transfer) -> str:
        return await self._transfer(
            "/api/v1/refunds",
            {
                "refund_id": transfer.transfer_id,
                "amount": transfer.amount,
                "currency": transfer.currency,
                "token": transfer.destination,
            },
        )

    async def _transfer(self, path: str, body: dict[str, Any]) -> str:
        status, answer = await self._post(path, body)
        if status == 200 and answer.get("status") == "completed":
            return str(answer["reference"])
        if status in (400, 409, 422):
            raise GatewayDeclined(str(answer.get("reason") or answer))
        raise GatewayUnavailable(f"sandbox {path} answered {status}: {answer}")
