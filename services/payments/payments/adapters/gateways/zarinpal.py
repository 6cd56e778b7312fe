"""Zarinpal (زرین‌پال) adapter, written against its published REST v4 payment-gateway API.

Sources (Zarinpal's own documentation):
- https://www.zarinpal.com/docs/paymentGateway/connectToGateway — payment request and verify
  (also https://next.zarinpal.com/paymentGateway/guide/)
- https://www.zarinpal.com/docs/paymentGateway/errorList — result and error codes
- https://www.zarinpal.com/docs/paymentGateway/moreFeatures/card-pan — verify's answer fields

The flow as documented:
1. `POST {api}/pg/v4/payment/request.json` with `merchant_id` (36 characters), `amount` (int),
   `currency` (`IRR` or `IRT`, optional), `description`, `callback_url` and `metadata`
   (`mobile`, `email`, `order_id`). Success: `{"data": {"code": 100, "message": "Success",
   "authority": "A000…", "fee_type": "Merchant", "fee": …}, "errors": []}`; failure: `{"data": [],
   "errors": {"code": -9, "message": "…", "validations": […]}}`.
2. The payer is redirected to `https://www.zarinpal.com/pg/StartPay/{authority}`.
3. Zarinpal sends the payer's browser back to `callback_url?Authority=…&Status=OK|NOK`. The
   callback is not signed: we believe nothing in it until step 4 confirms it.
4. `POST {api}/pg/v4/payment/verify.json` with `merchant_id`, `amount`, `authority`. Codes: 100
   verified now, 101 already verified (both carry `ref_id`, `card_pan`, `card_hash`, `fee_type`,
   `fee`); -50 the amount differs from the session's; -51 the session was not paid; -53 the
   session belongs to another merchant; -54 invalid authority; others (-9 validation, -10/-11
   terminal, -12 too many attempts, …) are the gateway refusing to answer now.

Zarinpal's payment-gateway API has no payout and no refund operation: `payout` and `refund` raise
`UnsupportedByGateway`. A Zarinpal deployment therefore sends payouts and refunds through its
configured transfer gateway (`PAYOUT_GATEWAY`; the sandbox in development).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from payments.adapters.gateways.http import gateway_client, post_json
from payments.adapters.gateways.port import IncomingCallback
from payments.domain.errors import CallbackMismatch, CallbackRejected
from payments.domain.gateway import (
    CallbackClaim,
    GatewayDeclined,
    GatewaySession,
    GatewayUnavailable,
    PaymentRequest,
    Transfer,
    UnsupportedByGateway,
    Verification,
)

OK: Final = 100
ALREADY_VERIFIED: Final = 101
AMOUNT_DIFFERS: Final = -50
NOT_PAID: Final = -51
OTHER_MERCHANT: Final = -53
INVALID_AUTHORITY: Final = -54
CURRENCIES: Final = frozenset({"IRR", "IRT"})


@dataclass(frozen=True)
class _Answer:
    """The answer's `data` object, and the result code and message from `data` or `errors`."""

    data: dict[str, Any]
    code: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message}".strip()


class ZarinpalGateway:
    name = "zarinpal"

    def __init__(
        self,
        merchant_id: str,
        *,
        api_url: str = "https://api.zarinpal.com",
        startpay_url: str = "https://www.zarinpal.com/pg/StartPay/",
        timeout: float = 10.0,
    ) -> None:
        self.merchant_id = merchant_id
        self.api_url = api_url.rstrip("/")
        self.startpay_url = startpay_url if startpay_url.endswith("/") else startpay_url + "/"
        self.http = gateway_client(timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any]) -> _Answer:
        _, document = await post_json(
            self.http, f"{self.api_url}{path}", {"merchant_id": self.merchant_id, **body}
        )
        if not isinstance(document, dict):
            raise GatewayUnavailable(f"zarinpal answered {document!r}")
        data = document.get("data") if isinstance(document.get("data"), dict) else {}
        errors = document.get("errors") if isinstance(document.get("errors"), dict) else {}
        code = (data or {}).get("code", (errors or {}).get("code"))
        message = str((errors or {}).get("message") or (data or {}).get("message") or "")
        return _Answer(data or {}, int(code) if code is not None else None, message)

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        if request.currency not in CURRENCIES:
            raise UnsupportedByGateway(f"zarinpal takes IRR or IRT, not {request.currency}")
        answer = await self._post(
            "/pg/v4/payment/request.json",
            {
                "amount": request.amount,
                "currency": request.currency,
                # the description is required by the API
                "description": request.description or f"payment {request.payment_id}",
                "callback_url": request.callback_url,
                "metadata": {"order_id": request.payment_id},
            },
        )
        authority = answer.data.get("authority")
        if answer.code == OK and isinstance(authority, str) and authority:
            return GatewaySession(token=authority, redirect_url=self.startpay_url + authority)
        raise GatewayDeclined(f"zarinpal payment request refused: {answer}")

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        authority = callback.query.get("Authority")
        status = callback.query.get("Status")
        if not authority or status not in ("OK", "NOK"):
            raise CallbackRejected("a zarinpal callback carries Authority and Status=OK|NOK")
        return CallbackClaim(token=authority, status="paid" if status == "OK" else "failed")

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        answer = await self._post(
            "/pg/v4/payment/verify.json", {"amount": amount, "authority": token}
        )
        if answer.code in (OK, ALREADY_VERIFIED) and answer.data.get("ref_id") is not None:
            # Zarinpal checked the amount itself (it answers -50 otherwise).
            return Verification(
                token=token,
                status="paid",
                amount=amount,
                currency=currency,
                reference=str(answer.data["ref_id"]),
            )
        if answer.code == NOT_PAID:
            return Verification(token=token, status="failed", reason=str(answer))
        if answer.code in (AMOUNT_DIFFERS, OTHER_MERCHANT, INVALID_AUTHORITY):
            raise CallbackMismatch(f"zarinpal verify: {answer}")
        raise GatewayUnavailable(f"zarinpal verify answered {answer}")

    async def payout(self, transfer: Transfer) -> str:
        raise UnsupportedByGateway("zarinpal's payment-gateway API has no payout operation")

    async def refund(self, transfer: Transfer) -> str:
        raise UnsupportedByGateway("zarinpal's payment-gateway API has no refund operation")
