"""The payments service's HTTP surface: gateway callbacks and the read API.

`POST|GET /callbacks/{gateway}`: a gateway's callback (the sandbox POSTs signed JSON; Zarinpal
sends the payer's browser back with a GET). Refused callbacks answer 4xx and record nothing; a
gateway that cannot confirm now answers 502, and the callback may be repeated. A body longer than
`CALLBACK_MAX_BODY_BYTES` is answered 413: unread when its Content-Length says so, else once the
bytes read pass the limit, so no more than the limit and one chunk is ever held.

Ids and query parameters are taken as every service takes them (`shared.http`), and every read
names its reader: a payment is its payer's, a payout and a wallet their user's, a refund its
employer's (admins see all); the ledger totals and the reconciliation with the gateways
(`GET /reconciliation/gateways?since=&until=`, ISO 8601 times with their offset, at most
`SETTLED_MAX_WINDOW` apart; default the last day) are for admins and the operator role. What is
not the reader's is answered 404, as what does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from shared.http import (
    BadInput,
    Endpoint,
    answers_bad_input,
    path_id,
    query_text,
    query_texts,
    whole_number,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from payments.adapters.gateways.port import SETTLED_MAX_WINDOW, IncomingCallback
from payments.domain.errors import CallbackRejected
from payments.domain.gateway import GatewayError
from payments.service_layer import funding, reconciliation, views
from payments.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)

View = Callable[..., Awaitable[dict[str, Any] | None]]
#: the window reconciliation with the gateways reads when none is asked for
DEFAULT_WINDOW = timedelta(days=1)


class CallbackTooLarge(BadInput):
    """Answered on the connection kept open: the server reads the rest of the body and drops it
    (a connection closed on unread bytes is reset, and the client may never read the 413)."""

    status_code = 413
    error = "too_large"


def routes(deps: Dependencies) -> tuple[list[BaseRoute], list[BaseRoute]]:
    """The read API (internal listener) and the callbacks (public listener)."""

    @answers_bad_input
    async def callback(request: Request) -> Response:
        name = request.path_params["gateway"]
        gateway = deps.gateways.by_name.get(name)
        if gateway is None:
            return JSONResponse({"error": f"no gateway {name!r}"}, status_code=404)
        try:
            body = await bounded_body(request, deps.settings.callback_max_body_bytes)
        except CallbackTooLarge as exc:
            log.warning("refused %s callback from %s: %s", name, _peer(request), exc)
            raise
        incoming = IncomingCallback(
            method=request.method,
            query=query_texts(request),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        try:
            payment = await funding.record_callback(gateway, incoming, deps)
        except CallbackRejected as exc:
            log.warning(
                "refused %s callback from %s (%s): %s", name, _peer(request), exc.reason, exc
            )
            return JSONResponse({"error": exc.reason, "detail": str(exc)}, exc.status_code)
        except GatewayError as exc:
            log.warning("could not verify a %s callback: %s", name, exc)
            return JSONResponse({"error": "gateway_unavailable"}, status_code=502)
        return JSONResponse(funding.describe(payment))

    def read(view: View, param: str, owner: str) -> Endpoint:
        """A view of one thing, for the reader named by its field `owner`."""

        @answers_bad_input
        async def endpoint(request: Request) -> Response:
            who = deps.readers.of(request)
            key = path_id(request, param)
            # a wallet is named by its owner: another's is not even looked up
            found = await view(deps.db, key) if param != owner or who.sees(key) else None
            if found is None or not who.sees(found.get(owner)):
                return JSONResponse({"error": "not_found"}, status_code=404)
            return JSONResponse(found)

        return endpoint

    @answers_bad_input
    async def totals(request: Request) -> Response:
        deps.readers.of(request).check_operator()
        return JSONResponse(await views.ledger_totals(deps.db))

    @answers_bad_input
    async def gateways(request: Request) -> Response:
        deps.readers.of(request).check_operator()
        until = _moment(request, "until") or deps.clock.now()
        since = _moment(request, "since") or until - DEFAULT_WINDOW
        if not timedelta(0) < until - since <= SETTLED_MAX_WINDOW:
            raise BadInput(f"since must be before until, at most {SETTLED_MAX_WINDOW.days} days")
        return JSONResponse(await reconciliation.gateway_differences(deps, since, until))

    public: list[BaseRoute] = [Route("/callbacks/{gateway}", callback, methods=["GET", "POST"])]
    return [
        Route("/payments/{payment_id}", read(views.payment, "payment_id", "payer_id")),
        Route("/wallets/{user_id}", read(views.wallet, "user_id", "user_id")),
        Route("/payouts/{payout_id}", read(views.payout, "payout_id", "user_id")),
        Route("/refunds/{refund_id}", read(views.refund, "refund_id", "employer_id")),
        Route("/ledger/totals", totals),
        Route("/reconciliation/gateways", gateways),
    ], public


def _moment(request: Request, name: str) -> datetime | None:
    """The query's ISO 8601 time `name` (None when absent); one without its offset is refused:
    it would name a different moment on every server."""
    text = query_text(request, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadInput(f"{name} must be an ISO 8601 time with its offset (…Z or …+00:00)")
    return moment


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, or `CallbackTooLarge` as soon as it is known to pass `limit` bytes."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and whole_number(announced, limit) is None:
        raise CallbackTooLarge(f"a callback body is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise CallbackTooLarge(f"a callback body is at most {limit} bytes")
    return bytes(body)


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"
