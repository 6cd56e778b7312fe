"""A local stand-in for the parts of Stripe's v1 API the Stripe adapter uses, answering as the API
reference shows (see `payments.adapters.gateways.stripe` for the sources): form-encoded requests
(`a[b][0]=c`), Bearer keys, `Stripe-Account` for connected accounts, `Idempotency-Key` (the first
response saved and replayed; other parameters under the same key: 400 `idempotency_error`),
`expand[]`, list filters, Stripe's error bodies and statuses, and signed webhooks.

Tests drive what happens outside the API through helpers: the payer pays (`pay`), a session
expires, refunds and payouts settle or fail. Switches answer the next requests with an error or
let a request go through and then answer too late for the client (a lost response).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import operator
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

Json = dict[str, Any]
Handler = Callable[[Request, Json, "str | None"], Awaitable[Response]]
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
#: Stripe's default Checkout Session lifetime
SESSION_LIFETIME_S = 24 * 3600
#: what takes money back from a charge (a refund) or a transfer (a reversal): its id prefix, and
#: the total and the flag it counts on what it takes back from
_TAKEN_BACK = {
    "refund": ("re", "amount_refunded", "refunded"),
    "transfer_reversal": ("trr", "amount_reversed", "reversed"),
}


def decode_form(body: str) -> Json:
    """`a[b][0][c]=v` → {"a": {"b": [{"c": "v"}]}}, as Stripe reads the SDK's encoding."""
    root: Json = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            root[key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    lists: Json = _lists(root)
    return lists


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def error(
    status: int, kind: str, message: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    body: Json = {"type": kind, "message": message}
    if code:
        body["code"] = code
    if param:
        body["param"] = param
    return JSONResponse({"error": body}, status)


def _invalid(message: str, code: str | None = None, param: str | None = None) -> JSONResponse:
    """Stripe's 400 for a request it refuses as asked (nothing was done)."""
    return error(400, "invalid_request_error", message, code, param)


def _missing(what: str, ident: str, param: str = "id") -> JSONResponse:
    return error(
        404, "invalid_request_error", f"No such {what}: '{ident}'", "resource_missing", param
    )


@dataclass
class Logged:
    method: str
    path: str
    #: the form body of a POST; the query string of a GET
    params: Json
    account: str | None
    idempotency_key: str | None


@dataclass
class Failure:
    status: int
    kind: str
    code: str | None = None
    method: str | None = None
    path: str | None = None


@dataclass
class FakeStripe:
    api_key: str
    webhook_secret: str
    #: connected accounts: id → available balance (minor units)
    accounts: dict[str, int] = field(default_factory=dict)
    #: the platform's available balance (what transfers draw on)
    platform_balance: int = 10_000_000
    #: every object by id (sessions, payment intents, charges, balance transactions, refunds,
    #: transfers, reversals, payouts), as Stripe would answer it
    objects: dict[str, Json] = field(default_factory=dict)
    requests: list[Logged] = field(default_factory=list)
    #: what a new refund is on creation (Stripe: pending for some payment methods)
    refund_status: str = "succeeded"
    #: switch (`fail`): requests answered with an error without being carried out
    failures: list[Failure] = field(default_factory=list)
    #: switch: payouts are refused with this error code (the account cannot be paid out)
    refuse_payouts: str | None = None
    #: switch: the next N mutating requests are carried out, then answered after `slow_s`
    answer_late: int = 0
    slow_s: float = 1.0
    _saved: dict[tuple[str, str], tuple[str, str, Json, int, bytes]] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    #: the last `created` given: objects are stamped with the time, one second apart at least,
    #: so that lists (newest first) have one order
    _last_created: int = 0

    # --- objects ---------------------------------------------------------------------------

    def _tick(self) -> int:
        self._last_created = max(int(time.time()), self._last_created + 1)
        return self._last_created

    def _new(self, prefix: str, kind: str, account: str | None = None, **fields: Any) -> Json:
        ident = f"{prefix}_test_{next(self._numbers):012d}"
        obj = {"id": ident, "object": kind, "created": self._tick(), "livemode": False}
        obj.update(fields)
        obj["_account"] = account
        self.objects[ident] = obj
        return obj

    def _take_back(self, kind: str, original: Json, amount: int, **fields: Any) -> Json:
        """A refund of a charge or a reversal of a transfer (`kind`): `amount` counted as taken
        back from `original`, made in its currency."""
        prefix, taken, whole = _TAKEN_BACK[kind]
        original[taken] += amount
        original[whole] = original[taken] == original["amount"]
        return self._new(prefix, kind, amount=amount, currency=original["currency"], **fields)

    def of(self, kind: str, account: str | None = None) -> list[Json]:
        return [
            o for o in self.objects.values() if o["object"] == kind and o["_account"] == account
        ]

    @property
    def refunds(self) -> list[Json]:
        return self.of("refund")

    @property
    def transfers(self) -> list[Json]:
        return self.of("transfer")

    def payouts(self, account: str) -> list[Json]:
        return self.of("payout", account)

    def posts(self, path: str) -> list[Logged]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def fail(
        self,
        status: int,
        kind: str,
        code: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next request (to `method` `path`, if given) with this error."""
        self.failures.append(Failure(status, kind, code, method, path))

    # --- what happens outside the API --------------------------------------------------------

    def pay(
        self,
        session_id: str,
        *,
        fee: int = 0,
        settled_in: str | None = None,
        processing: bool = False,
    ) -> Json:
        """The payer pays at Checkout: a PaymentIntent, its charge and balance transaction
        (`fee` kept by Stripe, in `settled_in`, default the session's currency). `processing`:
        an async payment method, still under way (see `settle_async`)."""
        session = self.objects[session_id]
        amount, currency = session["amount_total"], session["currency"]
        settlement = (settled_in or currency).lower()
        txn = self._new(
            "txn",
            "balance_transaction",
            amount=amount,
            currency=settlement,
            fee=fee,
            net=amount - fee,
            type="charge",
        )
        intent = self._new(
            "pi",
            "payment_intent",
            amount=amount,
            currency=currency,
            status="processing" if processing else "succeeded",
            latest_charge=None,
            metadata=dict(session["_payment_intent_metadata"]),
        )
        charge = self._new(
            "ch",
            "charge",
            amount=amount,
            currency=currency,
            payment_intent=intent["id"],
            balance_transaction=None if processing else txn["id"],
            amount_refunded=0,
            refunded=False,
        )
        intent["latest_charge"] = charge["id"]
        session.update(
            status="complete",
            payment_status="unpaid" if processing else "paid",
            payment_intent=intent["id"],
        )
        if not processing:
            self.platform_balance += amount - fee
        return session

    def settle_async(self, session_id: str, *, succeeded: bool) -> None:
        session = self.objects[session_id]
        intent = self.objects[session["payment_intent"]]
        charge = self.objects[intent["latest_charge"]]
        if succeeded:
            intent["status"] = "succeeded"
            session["payment_status"] = "paid"
            txn = self._new(
                "txn",
                "balance_transaction",
                amount=charge["amount"],
                currency=charge["currency"],
                fee=0,
                net=charge["amount"],
                type="charge",
            )
            charge["balance_transaction"] = txn["id"]
        else:
            intent["status"] = "requires_payment_method"

    def expire(self, session_id: str) -> None:
        self.objects[session_id]["status"] = "expired"

    def settle_refund(self, refund_id: str, status: str = "succeeded") -> None:
        refund = self.objects[refund_id]
        refund["status"] = status
        if status in ("failed", "canceled"):
            refund["failure_reason"] = "expired_or_canceled_card" if status == "failed" else None
            charge = self.objects[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False

    def in_transit(self, payout_id: str) -> None:
        self.objects[payout_id]["status"] = "in_transit"

    def complete_payout(self, payout_id: str) -> None:
        self.objects[payout_id]["status"] = "paid"

    def fail_payout(self, payout_id: str, code: str = "account_closed") -> None:
        """The bank returned it: the money is back in the connected account's balance."""
        payout = self.objects[payout_id]
        payout.update(
            status="failed", failure_code=code, failure_message="The bank account has been closed."
        )
        self.accounts[payout["_account"]] += payout["amount"]

    def signed_webhook(
        self,
        event_type: str,
        session_id: str,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """An event about the session as Stripe delivers it: the body and its
        `Stripe-Signature` (HMAC-SHA256 of `{t}.{body}` with the endpoint's secret)."""
        event = {
            "id": f"evt_test_{next(self._numbers):012d}",
            "object": "event",
            "api_version": "2025-01-01",
            "created": self._tick(),
            "type": event_type,
            "livemode": False,
            "data": {"object": self._public(self.objects[session_id])},
        }
        body = json.dumps(event).encode()
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(
            (secret or self.webhook_secret).encode(), f"{t}.".encode() + body, hashlib.sha256
        )
        return body, {"Stripe-Signature": f"t={t},v1={mac.hexdigest()}"}

    # --- the API -----------------------------------------------------------------------------

    def _public(self, obj: Json) -> Json:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _expanded(self, obj: Json, paths: list[str]) -> Json:
        answer = self._public(obj)
        for path in paths:
            node, parts = answer, path.split(".")
            for part in parts:
                ident = node.get(part)
                if isinstance(ident, str) and ident in self.objects:
                    node[part] = self._public(self.objects[ident])
                if not isinstance(node.get(part), dict):
                    break
                node = node[part]
        return answer

    def _list(self, request: Request, data: list[Json]) -> JSONResponse:
        """A page of a list, as Stripe's pagination says: newest first, at most `limit` (1–100,
        default 10), after the object `starting_after` names, `has_more` when more follow."""
        query = request.query_params
        limit = int(query.get("limit", "10"))
        if not 1 <= limit <= 100:
            return _invalid("Limit must be between 1 and 100.", "parameter_invalid_integer")
        newest = sorted(data, key=lambda o: o["created"], reverse=True)
        after = query.get("starting_after")
        if after is not None:
            ids = [o["id"] for o in newest]
            if after not in self.objects:
                return _missing("object", after, "starting_after")
            newest = newest[ids.index(after) + 1 :] if after in ids else []
        return JSONResponse(
            {
                "object": "list",
                "url": request.url.path,
                "has_more": len(newest) > limit,
                "data": [self._public(o) for o in newest[:limit]],
            }
        )

    @staticmethod
    def _created_within(request: Request, obj: Json) -> bool:
        """Stripe's `created` filter: `created[gt|gte|lt|lte]`, or `created` alone (equal)."""
        query, created = request.query_params, obj["created"]
        bounds = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
        if "created" in query and created != int(query["created"]):
            return False
        return all(
            test(created, int(query[f"created[{name}]"]))
            for name, test in bounds.items()
            if f"created[{name}]" in query
        )

    async def _dispatch(self, request: Request) -> Response:
        """Auth, the switches and the idempotency layer around every route."""
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error(401, "invalid_request_error", "Invalid API Key provided.")
        account = request.headers.get("stripe-account")
        if account is not None and account not in self.accounts:
            return error(403, "invalid_request_error", f"No such account: {account}")
        body = (await request.body()).decode()
        params = decode_form(body if request.method == "POST" else str(request.url.query))
        key = request.headers.get("idempotency-key")
        self.requests.append(Logged(request.method, request.url.path, params, account, key))
        for failure in self.failures:
            if failure.path in (None, request.url.path) and failure.method in (
                None,
                request.method,
            ):
                self.failures.remove(failure)
                return error(failure.status, failure.kind, f"fake {failure.kind}", failure.code)
        handler = self._routes[(request.method, self._route_of(request))]
        if request.method != "POST" or key is None:
            return await handler(request, params, account)
        scope = (account or "", key)
        if scope in self._saved:
            method, path, first, status, saved = self._saved[scope]
            if (method, path, first) != (request.method, request.url.path, params):
                return error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return Response(saved, status, media_type="application/json")
        response = await handler(request, params, account)
        self._saved[scope] = (
            request.method,
            request.url.path,
            params,
            response.status_code,
            bytes(response.body),
        )
        if self.answer_late:
            self.answer_late -= 1
            await asyncio.sleep(self.slow_s)
        return response

    def _route_of(self, request: Request) -> str:
        return str(request.scope["route"].path)

    # sessions

    async def create_session(self, request: Request, p: Json, account: str | None) -> Response:
        items = p.get("line_items") or []
        if p.get("mode") != "payment" or len(items) != 1 or not p.get("success_url"):
            return _invalid(
                "Missing required param: line_items.", "parameter_missing", "line_items"
            )
        price = items[0].get("price_data", {})
        try:
            unit_amount = int(price["unit_amount"])
            quantity = int(items[0].get("quantity", "1"))
        except (KeyError, ValueError):
            return _invalid(
                "Invalid integer",
                "parameter_invalid_integer",
                "line_items[0][price_data][unit_amount]",
            )
        currency = str(price.get("currency", ""))
        if currency != currency.lower() or len(currency) != 3:
            return _invalid(f"Invalid currency: {currency}", "parameter_invalid_string", "currency")
        session = self._new(
            "cs",
            "checkout.session",
            account,
            mode="payment",
            status="open",
            payment_status="unpaid",
            amount_total=unit_amount * quantity,
            currency=currency,
            client_reference_id=p.get("client_reference_id"),
            metadata=p.get("metadata", {}),
            success_url=p["success_url"],
            cancel_url=p.get("cancel_url"),
            payment_intent=None,
            _line_items=items,
            _payment_intent_metadata=p.get("payment_intent_data", {}).get("metadata", {}),
        )
        session["expires_at"] = session["created"] + SESSION_LIFETIME_S
        session["url"] = f"{str(request.base_url).rstrip('/')}/c/pay/{session['id']}"
        return JSONResponse(self._public(session))

    async def get_session(self, request: Request, p: Json, account: str | None) -> Response:
        ident = request.path_params["id"]
        session = self.objects.get(ident)
        if session is None or session["object"] != "checkout.session":
            return _missing("checkout.session", ident)
        expand = [v for k, v in request.query_params.multi_items() if k.startswith("expand")]
        return JSONResponse(self._expanded(session, expand))

    async def list_sessions(self, request: Request, p: Json, account: str | None) -> Response:
        status = request.query_params.get("status")
        if status not in (None, "open", "complete", "expired"):
            return _invalid(f"Invalid status: {status}", "parameter_invalid_string", "status")
        found = [
            s
            for s in self.of("checkout.session", account)
            if status in (None, s["status"]) and self._created_within(request, s)
        ]
        return self._list(request, found)

    # refunds

    async def create_refund(self, request: Request, p: Json, account: str | None) -> Response:
        intent = self.objects.get(str(p.get("payment_intent")))
        if intent is None or intent["object"] != "payment_intent":
            return _missing("payment_intent", str(p.get("payment_intent")), "payment_intent")
        charge = self.objects[intent["latest_charge"]]
        if intent["status"] != "succeeded":
            return _invalid("This PaymentIntent has no charge to refund.", "charge_not_refundable")
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(p.get("amount", left))
        if left == 0:
            return _invalid(
                f"Charge {charge['id']} has already been refunded.", "charge_already_refunded"
            )
        if amount > left:
            return _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount ({left}).",
                "amount_too_large",
                "amount",
            )
        refund = self._take_back(
            "refund",
            charge,
            amount,
            charge=charge["id"],
            payment_intent=intent["id"],
            metadata=p.get("metadata", {}),
            status=self.refund_status,
            failure_reason=None,
        )
        return JSONResponse(self._public(refund))

    async def list_refunds(self, request: Request, p: Json, account: str | None) -> Response:
        intent = request.query_params.get("payment_intent")
        if intent is not None and intent not in self.objects:
            return _missing("payment_intent", intent, "payment_intent")
        found = [r for r in self.refunds if intent is None or r["payment_intent"] == intent]
        return self._list(request, found)

    async def get_refund(self, request: Request, p: Json, account: str | None) -> Response:
        refund = self.objects.get(request.path_params["id"])
        if refund is None or refund["object"] != "refund":
            return _missing("refund", request.path_params["id"])
        return JSONResponse(self._public(refund))

    # transfers and reversals

    async def create_transfer(self, request: Request, p: Json, account: str | None) -> Response:
        destination = str(p.get("destination"))
        if destination not in self.accounts:
            return _invalid(
                f"No such destination: '{destination}'", "resource_missing", "destination"
            )
        amount = int(p["amount"])
        if amount > self.platform_balance:
            return _invalid(
                "You have insufficient available funds in your Stripe account.",
                "balance_insufficient",
            )
        self.platform_balance -= amount
        self.accounts[destination] += amount
        transfer = self._new(
            "tr",
            "transfer",
            amount=amount,
            currency=p["currency"],
            destination=destination,
            transfer_group=p.get("transfer_group"),
            metadata=p.get("metadata", {}),
            amount_reversed=0,
            reversed=False,
        )
        return JSONResponse(self._public(transfer))

    async def list_transfers(self, request: Request, p: Json, account: str | None) -> Response:
        q = request.query_params
        found = [
            t
            for t in self.transfers
            if q.get("destination") in (None, t["destination"])
            and q.get("transfer_group") in (None, t["transfer_group"])
        ]
        return self._list(request, found)

    async def reverse_transfer(self, request: Request, p: Json, account: str | None) -> Response:
        transfer = self.objects.get(request.path_params["id"])
        if transfer is None or transfer["object"] != "transfer":
            return _missing("transfer", request.path_params["id"])
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = int(p.get("amount", left))
        if amount > left:
            return _invalid(
                "Transfer already fully reversed.",
                "transfer_already_reversed" if left == 0 else "amount_too_large",
            )
        if amount > self.accounts[transfer["destination"]]:
            return _invalid(
                "Insufficient funds in the destination account to reverse.", "balance_insufficient"
            )
        self.accounts[transfer["destination"]] -= amount
        self.platform_balance += amount
        reversal = self._take_back(
            "transfer_reversal",
            transfer,
            amount,
            transfer=transfer["id"],
            metadata=p.get("metadata", {}),
        )
        return JSONResponse(self._public(reversal))

    # payouts (as a connected account)

    async def create_payout(self, request: Request, p: Json, account: str | None) -> Response:
        if account is None:
            return _invalid("This fake pays out connected accounts only.")
        if self.refuse_payouts:
            return _invalid("Payouts are not allowed.", self.refuse_payouts)
        amount = int(p["amount"])
        if amount > self.accounts[account]:
            return _invalid(
                "You have insufficient funds in your Stripe account for this transfer.",
                "balance_insufficient",
            )
        self.accounts[account] -= amount
        payout = self._new(
            "po",
            "payout",
            account,
            amount=amount,
            currency=p["currency"],
            status="pending",
            metadata=p.get("metadata", {}),
            method="standard",
            failure_code=None,
            failure_message=None,
        )
        payout["arrival_date"] = payout["created"] + 2 * 86_400
        return JSONResponse(self._public(payout))

    async def list_payouts(self, request: Request, p: Json, account: str | None) -> Response:
        if account is None:
            return self._list(request, self.of("payout"))
        since = int(request.query_params.get("created[gte]", "0"))
        return self._list(request, [o for o in self.payouts(account) if o["created"] >= since])

    async def get_payout(self, request: Request, p: Json, account: str | None) -> Response:
        payout = self.objects.get(request.path_params["id"])
        if payout is None or payout["object"] != "payout" or payout["_account"] != account:
            return _missing("payout", request.path_params["id"])
        return JSONResponse(self._public(payout))

    async def checkout_page(self, request: Request) -> Response:
        ident = request.path_params["id"]
        if ident not in self.objects:
            return HTMLResponse("<h1>Not found</h1>", 404)
        return HTMLResponse(f"<h1>Stripe Checkout (fake): {ident}</h1>")

    @property
    def _routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("POST", "/v1/checkout/sessions"): self.create_session,
            ("GET", "/v1/checkout/sessions"): self.list_sessions,
            ("GET", "/v1/checkout/sessions/{id}"): self.get_session,
            ("POST", "/v1/refunds"): self.create_refund,
            ("GET", "/v1/refunds"): self.list_refunds,
            ("GET", "/v1/refunds/{id}"): self.get_refund,
            ("POST", "/v1/transfers"): self.create_transfer,
            ("GET", "/v1/transfers"): self.list_transfers,
            ("POST", "/v1/transfers/{id}/reversals"): self.reverse_transfer,
            ("POST", "/v1/payouts"): self.create_payout,
            ("GET", "/v1/payouts"): self.list_payouts,
            ("GET", "/v1/payouts/{id}"): self.get_payout,
        }

    def app(self) -> Starlette:
        paths: dict[str, list[str]] = {}
        for method, path in self._routes:
            paths.setdefault(path, []).append(method)
        return Starlette(
            routes=[
                *(Route(path, self._dispatch, methods=methods) for path, methods in paths.items()),
                Route("/c/pay/{id}", self.checkout_page),
            ]
        )
