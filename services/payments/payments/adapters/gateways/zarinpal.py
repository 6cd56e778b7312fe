"""Zarinpal (زرین‌پال) adapter: its REST v4 payment gateway for payments, its GraphQL API for
refunds.

Sources (Zarinpal's own documentation):
- https://www.zarinpal.com/docs/paymentGateway/connectToGateway — payment request and verify on
  `https://payment.zarinpal.com` (also https://next.zarinpal.com/paymentGateway/guide/)
- https://www.zarinpal.com/docs/paymentGateway/errorList — result and error codes
- https://www.zarinpal.com/docs/paymentGateway/moreFeatures/card-pan — verify's answer fields
  (`ref_id`, `card_pan`, `card_hash`, `fee_type`, `fee`)
- https://zarinpal.com/docs/paymentGateway/otherMethods/Inquiry — inquiry.json and its statuses
- https://next.zarinpal.com/paymentGateway/other — unVerified.json
- https://zarinpal.com/docs/apiDocs/query/refund — the refund (AddRefund) of the GraphQL API
- https://zarinpal.com/docs/apiDocs/query/terminal.html — the `Terminals` query
- the operations as Zarinpal's own SDK sends them (github.com/ZarinPal/zarinpal-php-sdk,
  `src/Endpoint/GraphQL/RequestTypes/{RefundRequest,TransactionListRequest}.php`, `Options.php`)

Payments, as documented:
1. `POST {api}/pg/v4/payment/request.json` with `merchant_id`, `amount` (int, in `currency`:
   we send `IRR`, so rials), `currency`, `description`, `callback_url`, `metadata`. Success:
   `{"data": {"code": 100, "authority": "A…", …}, "errors": []}`; failure: `{"data": [],
   "errors": {"code": -9, "message": "…"}}`.
2. The payer is sent to `https://payment.zarinpal.com/pg/StartPay/{authority}`.
3. Zarinpal sends the payer's browser back to `callback_url?Authority=…&Status=OK|NOK`. The
   callback is not signed: we believe nothing in it until verify confirms it.
4. `POST {api}/pg/v4/payment/verify.json` with `merchant_id`, `amount`, `authority`: 100 verified
   now, 101 verified before (both carry `ref_id`, `fee_type`, `fee`); -50 another amount; -51 not
   paid; -53 another merchant's session; -54 invalid authority. `fee` is in the payment's
   currency (rials for us); we book it only when `fee_type` is `Merchant` (otherwise the payer
   paid it on top and we received the whole amount).
5. A session whose callback never came: `POST {api}/pg/v4/payment/inquiry.json` (`merchant_id`,
   `authority`) answers its `status`: VERIFIED, PAID (not verified), IN_BANK (the payer is still
   paying), FAILED, REVERSED. The docs forbid taking it as a verification, so PAID and VERIFIED
   are verified (step 4) before anything is believed.
6. `POST {api}/pg/v4/payment/unVerified.json` (`merchant_id`) lists the (at most 100 latest)
   sessions paid and not yet verified, each with its `authority` and `amount`: the inquiry
   worker verifies them, and reconciliation (`settled`) takes them as an incomplete listing.

Codes -14 (the callback URL's domain is not the terminal's registered domain), -15 (terminal
suspended) and -16 (merchant level below silver) are the merchant's configuration, which only
the merchant can fix in Zarinpal's panel: a payment request is declined; a verify, inquiry or
list raises `MerchantMisconfigured` (the outcome of the payment is unknown, it is asked again).

Refunds (`refund`), on the GraphQL API with `Authorization: Bearer <access token>`:
- `AddRefund(session_id, amount, description, method, reason)`. `session_id` is, in the docs'
  words, the payment's "transaction number" as the panel's transaction list shows it; it is not
  the authority. We find it with the documented `Session` query (the transaction list) by our
  payment's `reference_id` (verify's `ref_id`) on our terminal (`Terminals`, the terminal whose
  `key` is our merchant id). `amount` is in rials, at least 20 000; `method` `CARD` (instant) or
  `PAYA` (in the next PAYA cycle: accepted now and carried out by Zarinpal, so its reference is
  returned at once); `reason` `CUSTOMER_REQUEST`.
- The API takes no idempotency key, so a retried refund (after a timeout, or a second attempt of
  the same transfer) must not refund twice: every refund's description carries our transfer id
  as `[<transfer_id>]`, and before creating one we read the session's refunds and return the id
  of the one already carrying it. One worker holds a transfer at a time (its lease), so nothing
  creates the refund between that read and the mutation.
- NOT confirmed from the published docs: the `refunds { id amount description }` selection of
  `Session` used for that read (the docs show only the mutation's own answer, `id`, `amount`,
  `timeline { refund_amount refund_time refund_status }`); check it in Zarinpal's GraphiQL
  before going live. The refund's reference is the mutation's `id`.

Payouts go through another PSP: `payout` raises `UnsupportedByGateway`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NoReturn

from payments.adapters.gateways.http import gateway_client, post_json
from payments.adapters.gateways.port import SETTLED_MAX_ITEMS, IncomingCallback
from payments.domain.errors import CallbackMismatch, CallbackRejected
from payments.domain.gateway import (
    CallbackClaim,
    GatewayDeclined,
    GatewayError,
    GatewaySession,
    GatewayUnavailable,
    PaymentRequest,
    Settled,
    Settlements,
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
#: the merchant's own setup, fixed only in Zarinpal's panel (error list)
MISCONFIGURED: Final = {
    -14: "the callback URL's domain is not the terminal's registered domain",
    -15: "the terminal is suspended",
    -16: "the merchant's verification level is below silver",
}
CURRENCIES: Final = frozenset({"IRR", "IRT"})
RIALS_PER_TOMAN: Final = 10
MIN_REFUND_RIALS: Final = 20_000
RefundMethod = Literal["CARD", "PAYA"]

_TERMINALS: Final = "query Terminals { Terminals { id key } }"
_SESSION: Final = """
query Session($terminal_id: ID!, $reference_id: String) {
  Session(terminal_id: $terminal_id, reference_id: $reference_id) {
    id
    amount
    refunds { id amount description }
  }
}"""
_ADD_REFUND: Final = """
mutation AddRefund($session_id: ID!, $amount: BigInteger!, $description: String,
                   $method: InstantPayoutActionTypeEnum, $reason: RefundReasonEnum) {
  resource: AddRefund(session_id: $session_id, amount: $amount, description: $description,
                      method: $method, reason: $reason) {
    id
    amount
    timeline { refund_amount refund_time refund_status }
  }
}"""


class MerchantMisconfigured(GatewayError):
    """Zarinpal refuses to answer until the merchant fixes its terminal in Zarinpal's panel
    (-14/-15/-16). Not a sign the payment failed: it is asked again, and fails again until
    fixed."""

    definitive = False


@dataclass(frozen=True)
class _Answer:
    """The answer's `data` object, and the result code and message from `data` or `errors`."""

    data: dict[str, Any]
    code: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message}".strip()


def _code(value: object) -> int | None:
    """Codes come as numbers, and in some documented examples as strings ("100")."""
    try:
        return int(str(value))
    except ValueError:
        return None


def _misconfigured(operation: str, answer: _Answer) -> MerchantMisconfigured:
    assert answer.code is not None
    return MerchantMisconfigured(
        f"zarinpal {operation}: {answer} — {MISCONFIGURED[answer.code]}; "
        "the merchant must fix this in Zarinpal's panel"
    )


def _marker(transfer_id: str) -> str:
    return f"[{transfer_id}]"


class ZarinpalGateway:
    name = "zarinpal"

    def __init__(
        self,
        merchant_id: str,
        *,
        api_url: str = "https://payment.zarinpal.com",
        startpay_url: str = "https://payment.zarinpal.com/pg/StartPay/",
        graphql_url: str = "https://next.zarinpal.com/api/v4/graphql/",
        access_token: str | None = None,
        refund_method: RefundMethod = "CARD",
        timeout: float = 10.0,
    ) -> None:
        self.merchant_id = merchant_id
        self.api_url = api_url.rstrip("/")
        self.startpay_url = startpay_url if startpay_url.endswith("/") else startpay_url + "/"
        self.graphql_url = graphql_url
        self.access_token = access_token
        self.refund_method = refund_method
        self.http = gateway_client(timeout)
        self._terminal_id: str | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- the payment gateway (REST) ---------------------------------------------------------

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
        return _Answer(data or {}, _code(code) if code is not None else None, message)

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
        if answer.code in MISCONFIGURED:
            raise GatewayDeclined(str(_misconfigured("payment request", answer)))
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
                fee=self._merchant_fee(answer.data),
            )
        if answer.code == NOT_PAID:
            return Verification(token=token, status="failed", reason=str(answer))
        self._raise_refusal("verify", answer)

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        answer = await self._post("/pg/v4/payment/inquiry.json", {"authority": token})
        status = answer.data.get("status")
        if answer.code != OK:
            self._raise_refusal("inquiry", answer)
        if status in ("PAID", "VERIFIED"):
            return await self.verify(token, amount, currency)
        if status == "IN_BANK":
            return Verification(token=token, status="pending")
        if status in ("FAILED", "REVERSED"):
            return Verification(token=token, status="failed", reason=f"zarinpal: {status}")
        raise GatewayUnavailable(f"zarinpal inquiry answered status {status!r}")

    async def unverified(self) -> Sequence[str]:
        return [entry["authority"] for entry in await self._unverified()]

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        """Zarinpal publishes no list of everything it took, only unVerified: the (at most 100
        latest) sessions paid and not yet verified, whenever they were opened (the window is not
        Zarinpal's to filter). So the listing is incomplete: it names money Zarinpal holds for a
        payment the suite has not recorded (its callback was lost and no inquiry has verified it
        yet), never a received payment Zarinpal lacks. Amounts are taken as rials, the currency
        the suite opens Zarinpal payments in."""
        items = tuple(
            Settled(str(entry["authority"]), amount, "IRR")
            for entry in await self._unverified()
            if (amount := _code(entry.get("amount"))) is not None
        )
        return Settlements(items[:SETTLED_MAX_ITEMS], complete=False)

    async def _unverified(self) -> list[dict[str, Any]]:
        answer = await self._post("/pg/v4/payment/unVerified.json", {})
        if answer.code != OK:
            self._raise_refusal("unVerified", answer)
        listed = answer.data.get("authorities") or []
        return [
            {**entry, "authority": str(entry["authority"])}
            for entry in listed
            if isinstance(entry, dict) and entry.get("authority")
        ]

    @staticmethod
    def _merchant_fee(data: dict[str, Any]) -> int:
        if data.get("fee_type") != "Merchant":
            return 0  # the payer paid the fee on top: we received the whole amount
        return _code(data.get("fee")) or 0

    @staticmethod
    def _raise_refusal(operation: str, answer: _Answer) -> NoReturn:
        if answer.code in (AMOUNT_DIFFERS, OTHER_MERCHANT, INVALID_AUTHORITY):
            raise CallbackMismatch(f"zarinpal {operation}: {answer}")
        if answer.code in MISCONFIGURED:
            raise _misconfigured(operation, answer)
        raise GatewayUnavailable(f"zarinpal {operation} answered {answer}")

    # --- money leaving ----------------------------------------------------------------------

    async def payout(self, transfer: Transfer) -> str:
        raise UnsupportedByGateway("zarinpal payouts are not used: payouts go through another PSP")

    async def refund(self, transfer: Transfer) -> str:
        if self.access_token is None:
            raise UnsupportedByGateway("refunds need ZARINPAL_ACCESS_TOKEN")
        if transfer.currency not in CURRENCIES:
            raise GatewayDeclined(f"zarinpal refunds IRR or IRT, not {transfer.currency}")
        rials = transfer.amount * (RIALS_PER_TOMAN if transfer.currency == "IRT" else 1)
        if rials < MIN_REFUND_RIALS:
            raise GatewayDeclined(
                f"zarinpal refunds at least {MIN_REFUND_RIALS} rials, not {rials}"
            )
        if not transfer.payment_reference:
            raise GatewayDeclined(
                f"refund {transfer.transfer_id}: the payment's zarinpal ref_id is unknown"
            )
        session = await self._session(transfer.payment_reference)
        for earlier in session.get("refunds") or []:
            if not isinstance(earlier, dict) or earlier.get("id") is None:
                continue
            if _marker(transfer.transfer_id) in str(earlier.get("description") or ""):
                return str(earlier["id"])  # this transfer was refunded by an earlier attempt
        data = await self._graphql(
            "AddRefund",
            _ADD_REFUND,
            {
                "session_id": str(session["id"]),
                "amount": rials,
                "description": (
                    f"refund of payment {transfer.destination} {_marker(transfer.transfer_id)}"
                ),
                "method": self.refund_method,
                "reason": "CUSTOMER_REQUEST",
            },
        )
        created = data.get("resource")
        if not isinstance(created, dict) or created.get("id") is None:
            raise GatewayUnavailable(f"zarinpal AddRefund answered {data!r}")
        return str(created["id"])

    async def _session(self, reference_id: str) -> dict[str, Any]:
        """The refunded payment's session, found by its ref_id on our terminal."""
        data = await self._graphql(
            "Session",
            _SESSION,
            {"terminal_id": await self._terminal(), "reference_id": reference_id},
        )
        found = [s for s in data.get("Session") or [] if isinstance(s, dict) and s.get("id")]
        if not found:
            raise GatewayDeclined(f"zarinpal has no session with ref_id {reference_id}")
        return found[0]

    async def _terminal(self) -> str:
        """Our terminal's id: the access token's terminal whose key is our merchant id."""
        if self._terminal_id is None:
            data = await self._graphql("Terminals", _TERMINALS, {})
            ours = [
                t
                for t in data.get("Terminals") or []
                if isinstance(t, dict) and t.get("key") == self.merchant_id
            ]
            if not ours:
                raise GatewayDeclined(
                    "the zarinpal access token has no terminal with this merchant id"
                )
            self._terminal_id = str(ours[0]["id"])
        return self._terminal_id

    async def _graphql(
        self, operation: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """The answer's `data`. GraphQL `errors` beside data are Zarinpal refusing the operation
        (declined); `errors` without data, 5xx and no answer leave the outcome unknown."""
        status, document = await post_json(
            self.http,
            self.graphql_url,
            {"query": query, "variables": variables, "operationName": operation},
            headers={"authorization": f"Bearer {self.access_token}"},
        )
        if status in (401, 403):
            raise GatewayDeclined(f"zarinpal refused the access token ({status}): {document}")
        if not isinstance(document, dict):
            raise GatewayUnavailable(f"zarinpal {operation} answered {document!r}")
        data, errors = document.get("data"), document.get("errors")
        if errors and isinstance(data, dict):
            messages = "; ".join(
                str(e.get("message")) if isinstance(e, dict) else str(e) for e in errors
            )
            raise GatewayDeclined(f"zarinpal {operation} refused: {messages}")
        if errors or not isinstance(data, dict):
            raise GatewayUnavailable(f"zarinpal {operation} answered {status}: {document}")
        return data
