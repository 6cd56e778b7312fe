"""Stripe adapter (USD): Checkout for payments in, Refunds, and Connect transfers + payouts out.

Written against Stripe's API reference with the official SDK (`stripe`, v16: `StripeClient` and
its `*_async` methods over `HTTPXClient`; the SDK's own retries are off, our workers retry).

Sources (Stripe's documentation):
- https://docs.stripe.com/api/checkout/sessions/create, .../sessions/object — the session, its
  `status` (open | complete | expired), `payment_status` (paid | unpaid | no_payment_required),
  `url`, `client_reference_id`; sessions expire after 24 h by default
- https://docs.stripe.com/checkout/fulfillment — the webhook events `checkout.session.completed`,
  `…async_payment_succeeded`, `…async_payment_failed`, `checkout.session.expired`
- https://docs.stripe.com/webhooks#verify-events (signatures: `Stripe-Signature: t=…,v1=…`,
  HMAC-SHA256 of `t.payload`, 300 s default tolerance) and https://docs.stripe.com/webhooks —
  deliveries answered with anything but 2xx are retried for up to three days
- https://docs.stripe.com/expand — `expand[]=payment_intent.latest_charge.balance_transaction`
- https://docs.stripe.com/api/checkout/sessions/list — `created[gte]`, `created[lt]`, `status`,
  `limit` (1–100), `starting_after`; https://docs.stripe.com/api/pagination — a list is
  `{"object": "list", "data": […], "has_more": …}`, newest first, paged on with `starting_after`
  (the SDK's auto-pagination)
- https://docs.stripe.com/api/balance_transactions/object — `fee`, in the balance's currency
- https://docs.stripe.com/api/refunds/create, .../refunds/object, .../refunds/list — refund
  `status`: pending | requires_action | succeeded | failed | canceled
- https://docs.stripe.com/api/transfers/create, .../transfers/list (`destination`,
  `transfer_group` filters), https://docs.stripe.com/api/transfer_reversals/create
- https://docs.stripe.com/api/payouts/create, .../payouts/object (`status`: paid | pending |
  in_transit | canceled | failed), https://docs.stripe.com/connect/manual-payouts,
  https://docs.stripe.com/api/connected-accounts (the `Stripe-Account` header)
- https://docs.stripe.com/api/idempotent_requests and https://docs.stripe.com/error-low-level —
  v1 saves the first response (errors and 500s included) per key; keys may be pruned after 24 h;
  same key with other parameters is an `idempotency_error`; a concurrent use of a key is a 409
- https://docs.stripe.com/api/errors, https://docs.stripe.com/error-codes — error types, codes
  and HTTP statuses
- https://docs.stripe.com/currencies — amounts are in the currency's minor unit; zero-decimal
  currencies (JPY, KRW, …) are sent as they are; special cases below

Amounts: ours are minor units already and go to Stripe unchanged (1000 USD cents = $10.00, 500
JPY = ¥500). That is right wherever Stripe's unit is the ISO 4217 minor unit; ISK is the
documented exception (ISO has no minor unit, Stripe still counts it in hundredths), so it is
refused rather than sent 100 times too small. Stripe itself refuses amounts it will not take in
its other special cases (three-decimal currencies must end in 0; HUF and TWD payouts in whole
units): those come back as declines.

Idempotency and polling. A refund or payout can stay pending for days, but an idempotent create
replays the *first* response (a stale status) and its key may be gone after 24 h, when the same
create would move the money a second time. So every refund or payout attempt first looks for the
object it made on an earlier attempt, by what it wrote on it, and reads its current status there;
only when there is none does it create, with a key derived from the transfer id (which still
guards a create whose answer was lost within those 24 h, and concurrent attempts):
- refund: refunds listed by `payment_intent`, matched on `metadata[transfer_id]`; else
  `POST /v1/refunds` with key `refund-<transfer_id>`;
- payout step 1: the platform's transfers listed by `destination` and `transfer_group` (= our
  transfer id); else `POST /v1/transfers` with key `payout-<id>-transfer`;
- payout step 2: the connected account's payouts created since that transfer, matched on
  `metadata[transfer_id]`; else `POST /v1/payouts` as the account, key `payout-<id>-payout`.
A payout that fails (or is canceled) after its transfer leaves the money in the contractor's
Stripe balance, not ours: the transfer is reversed first (`POST /v1/transfers/{id}/reversals`,
for what is not reversed yet, key `payout-<id>-reversal`), and only then is the payout declined,
so the wallet is re-credited with money that is back on the platform. A reversal that does not
go through leaves the outcome open (`GatewayUnavailable`): the next attempt finds the failed
payout and reverses what is still not reversed (Stripe never reverses more than was
transferred). A reversal Stripe refused is replayed under its key for up to 24 h, so such a
payout stays open that long before the retry is a new attempt. A transfer found reversed with
no payout beside it (the payout was refused at creation) is declined again, never paid out.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, NoReturn

import stripe

from payments.adapters.gateways.port import SETTLED_MAX_ITEMS, IncomingCallback
from payments.domain.errors import CallbackMismatch, CallbackRejected, ForgedCallback
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
    TransferInProgress,
    UnsupportedByGateway,
    Verification,
)

# The SDK would otherwise write an id under ~/.config/stripe and report call timings to Stripe.
stripe.enable_telemetry = False

SIGNATURE_HEADER: Final = "stripe-signature"
TOLERANCE_S: Final = stripe.Webhook.DEFAULT_TOLERANCE  # 300 s, Stripe's recommendation
SESSION_EXPAND: Final = ["payment_intent.latest_charge.balance_transaction"]
#: the session events we act on, and what each says of the payment (None: wait for verify)
SESSION_EVENTS: Final[dict[str, str | None]] = {
    "checkout.session.completed": None,  # paid, or an async payment method still under way
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "failed",
}
#: Stripe counts these in other units than ISO 4217's minor unit: our amounts would be mangled
MISCOUNTED_CURRENCIES: Final = frozenset({"ISK"})
_CURRENCY = re.compile(r"[A-Z]{3}")
#: a PaymentIntent of a completed session in these states will not be paid any more
_PAYMENT_GIVEN_UP: Final = frozenset({"canceled", "requires_payment_method"})
_LIST_LIMIT: Final = 100


def _unavailable_or_declined(exc: stripe.StripeError, doing: str) -> GatewayError:
    """What a Stripe error says of the money: declined only where Stripe answered that the
    request was refused (nothing moved); unknown wherever it may have gone through or may go
    through when asked again."""
    detail = _detail(exc, doing)
    if isinstance(exc, stripe.IdempotencyError):
        # Same key, other parameters: the first request (which may have moved money) stands.
        return GatewayUnavailable(detail)
    if isinstance(exc, stripe.CardError | stripe.InvalidRequestError):
        # 402 / 400 / 404: refused as asked (charge_already_refunded, amount_too_large,
        # balance_insufficient, resource_missing, …); rate limits are RateLimitError.
        return GatewayDeclined(detail)
    # AuthenticationError / PermissionError (401/403: our key is wrong or restricted: a
    # configuration fault to fix, not a refusal of this transfer), RateLimitError (429),
    # APIConnectionError (no answer), APIError (409 key in use, 424, 5xx), anything else.
    return GatewayUnavailable(detail)


def _detail(exc: stripe.StripeError, doing: str) -> str:
    return f"stripe {doing}: {type(exc).__name__} {exc.http_status} {exc.code}: {exc}"


def _raise_for(exc: stripe.StripeError, doing: str) -> NoReturn:
    raise _unavailable_or_declined(exc, doing) from exc


def _id(field: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    if field is None or isinstance(field, str):
        return field
    return str(field.id)


def _metadata(obj: Any) -> dict[str, Any]:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if isinstance(metadata, stripe.StripeObject) else {}


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        api_url: str = "https://api.stripe.com",
        timeout: float = 10.0,
    ) -> None:
        self.webhook_secret = webhook_secret
        self.http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_url.rstrip("/")},
            http_client=self.http,
            max_network_retries=0,  # the payout/refund workers and the inquiry retry
        )

    async def aclose(self) -> None:
        await self.http.close_async()  # type: ignore[no-untyped-call]

    # --- payments in ---------------------------------------------------------------------

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        currency = request.currency.upper()
        if not _CURRENCY.fullmatch(currency) or currency in MISCOUNTED_CURRENCIES:
            raise UnsupportedByGateway(f"stripe is not offered payments in {request.currency!r}")
        return_to = _with_query(request.callback_url, "session_id={CHECKOUT_SESSION_ID}")
        metadata = {"payment_id": request.payment_id}
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                {
                    "mode": "payment",
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": currency.lower(),
                                "unit_amount": request.amount,
                                "product_data": {
                                    "name": request.description or f"payment {request.payment_id}"
                                },
                            },
                        }
                    ],
                    "client_reference_id": request.payment_id,
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": return_to,
                    "cancel_url": return_to + "&cancelled=1",
                },
                {"idempotency_key": f"checkout-{request.payment_id}"},
            )
        except stripe.StripeError as exc:
            _raise_for(exc, f"checkout session for {request.payment_id}")
        if not session.url:
            raise GatewayDeclined(f"stripe checkout session {session.id} has no payment page")
        return GatewaySession(token=session.id, redirect_url=session.url)

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        """A signed webhook (POST with `Stripe-Signature`) or the payer's browser coming back
        (GET `?session_id=`, unsigned: believed only after verify).

        Event types other than the four session events are refused (400). Stripe retries a
        delivery it did not get a 2xx for, for up to three days, and warns about (then may
        disable) an endpoint that keeps failing: subscribe the endpoint to those four events
        only. A `completed` session whose async payment is still under way is answered 409 by
        the route (verify says pending) and retried by Stripe; its `async_payment_*` event
        settles it.
        """
        headers = {k.lower(): v for k, v in callback.headers.items()}
        signature = headers.get(SIGNATURE_HEADER)
        if callback.method.upper() == "POST" and signature is not None:
            return self._read_webhook(callback.body, signature)
        if callback.method.upper() == "POST":
            raise ForgedCallback("a stripe webhook without a Stripe-Signature header")
        session_id = callback.query.get("session_id", "")
        if not session_id.startswith("cs_"):
            raise CallbackRejected("the payer's return from stripe carries ?session_id=cs_…")
        return CallbackClaim(token=session_id)

    def _read_webhook(self, body: bytes, signature: str) -> CallbackClaim:
        try:
            stripe.WebhookSignature.verify_header(body, signature, self.webhook_secret, TOLERANCE_S)
        except stripe.SignatureVerificationError as exc:
            raise ForgedCallback(f"stripe webhook signature refused: {exc}") from exc
        except ValueError as exc:  # not UTF-8
            raise CallbackRejected(f"unreadable stripe webhook: {exc!r}") from exc
        try:
            event = json.loads(body)
            kind = str(event["type"])
            session = event["data"]["object"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"unreadable stripe webhook: {exc!r}") from exc
        if kind not in SESSION_EVENTS:
            raise CallbackRejected(f"stripe event {kind} is not one this endpoint acts on")
        status = SESSION_EVENTS[kind]
        if kind == "checkout.session.completed" and session.get("payment_status") == "paid":
            status = "paid"
        try:
            currency = session.get("currency")
            amount = session.get("amount_total")
            return CallbackClaim(
                token=str(session["id"]),
                status=status,
                amount=int(amount) if amount is not None else None,
                currency=str(currency).upper() if currency else None,
                order_id=session.get("client_reference_id"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CallbackRejected(f"unreadable stripe {kind} event: {exc!r}") from exc

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        """The session as Stripe holds it: paid (with the PaymentIntent as reference and the
        balance transaction's fee), failed once it expired or its async payment failed, else
        pending. A session Stripe does not know is not one of ours: a mismatch, as Zarinpal's
        unknown authority is."""
        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(
                token, {"expand": SESSION_EXPAND}
            )
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise CallbackMismatch(f"stripe has no checkout session {token}") from exc
            raise GatewayUnavailable(_detail(exc, f"retrieve of {token}")) from exc
        except stripe.StripeError as exc:
            # Nothing here moves money: whatever went wrong, the payment is asked about again.
            raise GatewayUnavailable(_detail(exc, f"retrieve of {token}")) from exc
        return self._verification(session)

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        """As verify: an open session stays pending (Stripe expires it itself, after 24 h by
        default, and then answers `expired`)."""
        return await self.verify(token, amount, currency)

    def _verification(self, session: stripe.checkout.Session) -> Verification:
        seen = Verification(
            token=session.id,
            status="pending",
            amount=session.amount_total,
            currency=session.currency.upper() if session.currency else None,
            order_id=session.client_reference_id,
            reason=f"session {session.status}",
        )
        intent = session.payment_intent
        if session.payment_status == "paid":
            return replace(
                seen, status="paid", reference=_id(intent), reason="", fee=self._fee(session)
            )
        if session.payment_status == "no_payment_required":
            raise CallbackMismatch(f"stripe session {session.id} asks for no payment")
        if session.status == "expired":
            return replace(seen, status="failed", reason="checkout session expired")
        intent_status = getattr(intent, "status", None)
        if session.status == "complete" and intent_status in _PAYMENT_GIVEN_UP:
            return replace(seen, status="failed", reason=f"payment intent {intent_status}")
        return seen  # open, or an async payment method still processing

    @staticmethod
    def _fee(session: stripe.checkout.Session) -> int:
        """Stripe's fee from the charge's balance transaction. The fee is in the balance's
        (settlement) currency: when that is not the payment's currency it cannot be booked
        against the payment in its own currency, and 0 is recorded (the conversion shows in
        Stripe's payout reports instead)."""
        intent = session.payment_intent
        charge = getattr(intent, "latest_charge", None)
        balance = getattr(charge, "balance_transaction", None)
        if balance is None or isinstance(balance, str) or not session.currency:
            return 0
        if str(balance.currency).lower() != session.currency.lower():
            return 0
        return int(balance.fee)

    async def unverified(self) -> Sequence[str]:
        """Stripe keeps no list of paid-but-unconfirmed sessions: webhooks and inquiries cover
        what Zarinpal's unVerified does."""
        return []

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        """The Checkout Sessions created in the window (`created[gte]`, `created[lt]`, whole
        seconds: the window widened to them) that are `complete` and paid, through the SDK's
        auto-pagination, 100 a page, at most `SETTLED_MAX_ITEMS` sessions (then `truncated`).
        Complete: Stripe lists every session. A session is listed under its creation time, as
        the suite's payment is under its own: the one the payer paid long after opening it is
        in the window it was opened in."""
        items: dict[str, Settled] = {}
        seen = 0
        try:
            page = await self.client.v1.checkout.sessions.list_async(
                {
                    "created": {
                        "gte": math.floor(since.timestamp()),
                        "lt": math.ceil(until.timestamp()),
                    },
                    "status": "complete",
                    "limit": _LIST_LIMIT,
                }
            )
            async for session in page.auto_paging_iter():
                if seen == SETTLED_MAX_ITEMS:
                    return Settlements(tuple(items.values()), complete=False, truncated=True)
                seen += 1
                if session.payment_status != "paid" or not session.currency:
                    continue
                amount = session.amount_total or 0
                items[session.id] = Settled(session.id, amount, session.currency.upper())
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_detail(exc, "list of checkout sessions")) from exc
        return Settlements(tuple(items.values()), complete=True)

    # --- refunds -------------------------------------------------------------------------

    async def refund(self, transfer: Transfer) -> str:
        """Refund (part of) a payment's PaymentIntent; the refund's id once it succeeded."""
        intent = transfer.payment_reference or await self._session_intent(transfer.destination)
        refund = await self._find_refund(intent, transfer.transfer_id)
        if refund is None:
            try:
                refund = await self.client.v1.refunds.create_async(
                    {
                        "payment_intent": intent,
                        "amount": transfer.amount,
                        "metadata": {"transfer_id": transfer.transfer_id},
                    },
                    {"idempotency_key": f"refund-{transfer.transfer_id}"},
                )
            except stripe.StripeError as exc:
                _raise_for(exc, f"refund {transfer.transfer_id}")
        if refund.status == "succeeded":
            return refund.id
        if refund.status in ("pending", "requires_action"):
            raise TransferInProgress(f"stripe refund {refund.id} is {refund.status}")
        # failed / canceled: Stripe put the money back in our balance
        reason = getattr(refund, "failure_reason", None) or refund.status
        raise GatewayDeclined(f"stripe refund {refund.id} {refund.status}: {reason}")

    async def _session_intent(self, session_id: str) -> str:
        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            _raise_for(exc, f"retrieve of session {session_id}")
        intent = _id(session.payment_intent)
        if intent is None:
            raise GatewayDeclined(f"stripe session {session_id} was never paid: no refund")
        return intent

    async def _find_refund(self, intent: str, transfer_id: str) -> stripe.Refund | None:
        try:
            found = await self.client.v1.refunds.list_async(
                {"payment_intent": intent, "limit": _LIST_LIMIT}
            )
        except stripe.StripeError as exc:
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                raise GatewayDeclined(f"stripe has no payment intent {intent}") from exc
            raise GatewayUnavailable(_detail(exc, f"refunds of {intent}")) from exc
        return next((r for r in found.data if _metadata(r).get("transfer_id") == transfer_id), None)

    # --- payouts (Connect) -----------------------------------------------------------------

    async def payout(self, transfer: Transfer) -> str:
        """Transfer to the contractor's connected account, then pay out of its balance to its
        bank; the payout's id once Stripe says it is paid. `transfer.destination` (the IBAN) is
        not sent: the payout goes to the account's own external account at Stripe."""
        account = transfer.account
        if not account:
            raise GatewayDeclined("a Stripe payout needs the contractor's connected account")
        moved = await self._find_transfer(transfer, account) or await self._create_transfer(
            transfer, account
        )
        payout = await self._find_payout(transfer, account, moved)
        if payout is None and moved.amount_reversed:
            # Its payout was refused and the money brought back earlier: paying out now would
            # pay the contractor out of their own balance.
            raise GatewayDeclined(f"stripe transfer {moved.id} was reversed: payout refused")
        payout = payout or await self._create_payout(transfer, account, moved)
        if payout.status == "paid":
            return payout.id
        if payout.status in ("pending", "in_transit"):
            raise TransferInProgress(f"stripe payout {payout.id} is {payout.status}")
        why = f"{payout.failure_code or ''} {payout.failure_message or ''}".strip()
        await self._reverse(transfer, moved, f"payout {payout.id} {payout.status}")
        raise GatewayDeclined(
            f"stripe payout {payout.id} {payout.status}: {why or 'no reason given'}; "
            f"transfer {moved.id} reversed"
        )

    async def _find_transfer(self, transfer: Transfer, account: str) -> stripe.Transfer | None:
        try:
            found = await self.client.v1.transfers.list_async(
                {
                    "destination": account,
                    "transfer_group": transfer.transfer_id,
                    "limit": _LIST_LIMIT,
                }
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_detail(exc, f"transfers to {account}")) from exc
        return next(
            (t for t in found.data if _metadata(t).get("transfer_id") == transfer.transfer_id),
            None,
        )

    async def _create_transfer(self, transfer: Transfer, account: str) -> stripe.Transfer:
        try:
            return await self.client.v1.transfers.create_async(
                {
                    "amount": transfer.amount,
                    "currency": transfer.currency.lower(),
                    "destination": account,
                    "transfer_group": transfer.transfer_id,
                    "metadata": {"transfer_id": transfer.transfer_id},
                },
                {"idempotency_key": f"payout-{transfer.transfer_id}-transfer"},
            )
        except stripe.StripeError as exc:
            # refused here, nothing left the platform (balance_insufficient: its USD is not
            # available yet, or is short)
            _raise_for(exc, f"transfer for payout {transfer.transfer_id}")

    async def _find_payout(
        self, transfer: Transfer, account: str, moved: stripe.Transfer
    ) -> stripe.Payout | None:
        try:
            found = await self.client.v1.payouts.list_async(
                {"created": {"gte": moved.created}, "limit": _LIST_LIMIT},
                {"stripe_account": account},
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(_detail(exc, f"payouts of {account}")) from exc
        return next(
            (p for p in found.data if _metadata(p).get("transfer_id") == transfer.transfer_id),
            None,
        )

    async def _create_payout(
        self, transfer: Transfer, account: str, moved: stripe.Transfer
    ) -> stripe.Payout:
        try:
            return await self.client.v1.payouts.create_async(
                {
                    "amount": transfer.amount,
                    "currency": transfer.currency.lower(),
                    "metadata": {"transfer_id": transfer.transfer_id},
                },
                {
                    "stripe_account": account,
                    "idempotency_key": f"payout-{transfer.transfer_id}-payout",
                },
            )
        except stripe.StripeError as exc:
            error = _unavailable_or_declined(exc, f"payout {transfer.transfer_id}")
            if error.definitive:  # the money sits at the contractor's account: bring it back
                await self._reverse(transfer, moved, f"payout refused: {exc}")
            raise error from exc

    async def _reverse(self, transfer: Transfer, moved: stripe.Transfer, why: str) -> None:
        left = moved.amount - (moved.amount_reversed or 0)
        if moved.reversed or left <= 0:
            return
        try:
            await self.client.v1.transfers.reversals.create_async(
                moved.id,
                {"amount": left, "metadata": {"transfer_id": transfer.transfer_id}},
                {"idempotency_key": f"payout-{transfer.transfer_id}-reversal"},
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(
                _detail(exc, f"{why}, and transfer {moved.id} could not be reversed yet")
            ) from exc
