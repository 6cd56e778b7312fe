"""A local stand-in for Vandar's settlement API, answering as its documentation shows (see
`payments.adapters.gateways.vandar` for the sources), so the adapter is tested over HTTP: bearer
token, the business's wallet, settlements that go PENDING → DONE (or FAILED, CANCELED) when the
test says so, the duplicate track id answer, the query by track id, the cancel of a settlement
under way or FAILED by its transaction id (https://vandarpay.github.io/docs/settlement/#cancel),
which returns its money to the wallet, and switches for a slow or failing Vandar or cancel."""

from __future__ import annotations

import asyncio
import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MIN_TOMAN = 5_000
IBAN = re.compile(r"IR\d{24}")


def _invalid(**errors: str) -> JSONResponse:
    return JSONResponse(
        {
            "message": "The given data was invalid.",
            "errors": {name: [message] for name, message in errors.items()},
        },
        422,
    )


def _server_error(message: str = "خطایی رخ داده است.") -> JSONResponse:
    """Vandar's 500 ("an error occurred"), in its documented failure shape."""
    return JSONResponse({"status": 0, "errors": {"error": message}}, 500)


@dataclass
class Settlement:
    id: str
    transaction_id: int
    track_id: str
    iban: str
    amount_toman: int
    status: str = "PENDING"  # PENDING → DONE | FAILED; PENDING | FAILED → CANCELED
    ref_code: str | None = None

    def as_json(self, wallet: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "iban_id": str(uuid.uuid5(uuid.NAMESPACE_OID, self.iban)),
            "transaction_id": self.transaction_id,
            "amount": self.amount_toman * 10,
            "amount_toman": self.amount_toman,
            "wage_toman": 0,
            "payment_number": None,
            "status": self.status,
            "wallet": str(wallet),
            "description": "تسویه حساب وندار",
            "settlement_date": "2021-10-30",
            "settlement_time": "15:39:36",
            "settlement_date_jalali": "1400/08/08",
            "settlement_done_time_prediction": "1400/08/08 16:00:00",
            "is_instant": False,
            "prediction": {"date": "1400/8/8", "time": "16:00:00", "extra": "امروز"},
            "receipt_url": "https://vand.ar/Mcz6C",
            "type": "ACH",
            "track_id": self.track_id,
            "ref_code": self.ref_code,
        }


@dataclass
class FakeVandar:
    business: str
    access_token: str
    #: the business wallet, toman; a settlement takes its amount, a cancelled one gives it back
    wallet: int = 10_000_000
    #: settlements answer DONE at once (an instant account-to-account settlement)
    instant: bool = False
    #: seconds to wait before answering (after the request was carried out)
    delay: float = 0.0
    #: how many of the next requests answer 500 without being carried out
    server_errors: int = 0
    #: how many of the next status queries answer 500
    query_errors: int = 0
    #: how many of the next cancels answer 500 without cancelling
    cancel_errors: int = 0
    #: how many of the next cancels answer 422 without cancelling
    cancel_refusals: int = 0
    #: how many of the next cancels cancel, then answer 500 (the answer is lost)
    cancel_answers_lost: int = 0
    #: how many of the next queries that answer FAILED are followed by the settlement being
    #: cancelled from the dashboard (so a cancel sent then finds it already cancelled)
    cancelled_elsewhere_after_query: int = 0
    settlements: dict[str, Settlement] = field(default_factory=dict)
    #: every request: (method, path, JSON body or None)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(163559577615))

    # --- what the banks do -----------------------------------------------------------------

    def complete(self, track_id: str) -> None:
        settlement = self.settlements[track_id]
        settlement.status = "DONE"
        settlement.ref_code = f"1400102906{settlement.transaction_id % 10**8:08d}"

    def fail(self, track_id: str) -> None:
        self.settlements[track_id].status = "FAILED"

    def cancel(self, track_id: str) -> None:
        """Cancelled (from the dashboard, or by the cancel request): the money is back."""
        settlement = self.settlements[track_id]
        settlement.status = "CANCELED"
        self.wallet += settlement.amount_toman

    # --- the API ---------------------------------------------------------------------------

    async def _refusal(self, request: Request) -> Response | None:
        body = await request.json() if request.method == "POST" else None
        self.requests.append((request.method, request.url.path, body))
        if self.server_errors:
            self.server_errors -= 1
            return _server_error("خطایی رخ داده است. لطفاً مجدداً تلاش کنید")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return JSONResponse({"status": 0, "error": "Unauthenticated"}, 401)
        if request.path_params["business"] != self.business:
            return JSONResponse({"status": 0, "error": "کسب و کار وجود ندارد"}, 404)
        return None

    async def store(self, request: Request) -> Response:
        if (refusal := await self._refusal(request)) is not None:
            return refusal
        body = await request.json()
        amount, iban, track_id = body.get("amount"), body.get("iban"), body.get("track_id")
        if not isinstance(track_id, str) or not track_id:
            return _invalid(track_id="فیلد track id الزامی است.")
        if track_id in self.settlements:
            return _invalid(track_id="یک تسویه با این شناسه پیگیری قبلا ثبت شده است.")
        if not isinstance(iban, str) or not IBAN.fullmatch(iban):
            return _invalid(iban="شماره شبا معتبر نیست.")
        if not isinstance(amount, int) or amount < MIN_TOMAN:
            return _invalid(amount=f"مبلغ باید حداقل {MIN_TOMAN} تومان باشد.")
        if amount > self.wallet:
            return _invalid(amount="مبلغ تسویه از موجودی کیف پول بیشتر است.")
        if len(str(body.get("description", ""))) > 256:
            return _invalid(description="توضیحات نباید بیشتر از ۲۵۶ کاراکتر باشد.")
        self.wallet -= amount
        settlement = Settlement(str(uuid.uuid4()), next(self._numbers), track_id, iban, amount)
        self.settlements[track_id] = settlement
        if self.instant:
            self.complete(track_id)
        await asyncio.sleep(self.delay)
        return JSONResponse(
            {"status": 1, "data": {"settlement": [settlement.as_json(self.wallet)]}}
        )

    async def show(self, request: Request) -> Response:
        if (refusal := await self._refusal(request)) is not None:
            return refusal
        if self.query_errors:
            self.query_errors -= 1
            return _server_error()
        settlement = self.settlements.get(request.path_params["track_id"])
        await asyncio.sleep(self.delay)
        if settlement is None:
            return JSONResponse({"status": 0, "error": "تسویه یافت نشد"}, 404)
        answer = {"status": 1, "data": {"settlement": settlement.as_json(self.wallet)}}
        if settlement.status == "FAILED" and self.cancelled_elsewhere_after_query:
            self.cancelled_elsewhere_after_query -= 1
            self.cancel(settlement.track_id)
        return JSONResponse(answer)

    async def destroy(self, request: Request) -> Response:
        """The documented cancel: a settlement under way or FAILED is CANCELED and its money
        returned to the wallet. What Vandar answers for one that cannot be cancelled (already
        cancelled, done) is not documented: here a 422 in the documented failure shape."""
        if (refusal := await self._refusal(request)) is not None:
            return refusal
        if self.cancel_errors:
            self.cancel_errors -= 1
            return _server_error()
        transaction_id = request.path_params["transaction_id"]
        settlement = next(
            (s for s in self.settlements.values() if str(s.transaction_id) == transaction_id),
            None,
        )
        if settlement is None:
            return JSONResponse({"status": 0, "error": "تسویه یافت نشد"}, 404)
        if self.cancel_refusals:
            self.cancel_refusals -= 1
            return JSONResponse({"status": 0, "error": "امکان لغو تسویه وجود ندارد."}, 422)
        if settlement.status == "CANCELED":
            return JSONResponse({"status": 0, "error": "این تسویه قبلا لغو شده است."}, 422)
        if settlement.status not in ("INIT", "PENDING", "FAILED"):
            return JSONResponse({"status": 0, "error": "امکان لغو این تسویه وجود ندارد."}, 422)
        self.cancel(settlement.track_id)
        if self.cancel_answers_lost:
            self.cancel_answers_lost -= 1
            return _server_error()
        return JSONResponse(
            {
                "status": 1,
                "message": "درخواست تسویه شما از دستور پرداخت خارج شد و وجه تسویه به حساب شما"
                " برگشت داده شد",
            }
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/business/{business}/settlement/store", self.store, methods=["POST"]),
                Route("/v4/business/{business}/settlement/{track_id}", self.show),
                Route(
                    "/v2.1/business/{business}/settlement/{transaction_id}",
                    self.destroy,
                    methods=["DELETE"],
                ),
            ]
        )
