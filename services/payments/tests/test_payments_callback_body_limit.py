"""The callback's body limit (issue 12: 200 MiB raised the service's RSS from 144 to 503 MB before
its 401), over real HTTP: a Content-Length over `CALLBACK_MAX_BODY_BYTES` is answered 413 before
a byte is read, a streamed body as soon as what was read passes the limit, and a signed callback
of exactly the limit is taken as any other."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from payments.entrypoints.http import CallbackTooLarge, bounded_body
from payments.sandbox.signing import DEV_SECRET, SIGNATURE_HEADER, sign
from payments.settings import PaymentsSettings
from payments.testing.harness import PaymentsHarness
from pydantic import ValidationError
from shared.testing.servers import listening
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

pytestmark = pytest.mark.integration

LIMIT = PaymentsSettings().callback_max_body_bytes
MIB = 1024 * 1024
#: 256 times the limit (the issue's 200 MiB only takes longer: the server reads and drops the rest)
HOSTILE = 16 * MIB


@dataclass
class BodyMeter:
    """In front of the service's routes: how many body bytes they took, in chunks of at most
    `largest`."""

    app: ASGIApp
    taken: int = 0
    largest: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted() -> Message:
            message = await receive()
            size = len(message.get("body", b""))
            self.taken, self.largest = self.taken + size, max(self.largest, size)
            return message

        await self.app(scope, counted, send)


@pytest.fixture
async def metered(payments: PaymentsHarness) -> AsyncIterator[tuple[BodyMeter, httpx.AsyncClient]]:
    """The running service's routes served once more, behind a `BodyMeter`."""
    meter = BodyMeter(payments.service.public_app())
    async with listening(meter) as served, httpx.AsyncClient(base_url=served.url) as http:
        yield meter, http


async def zeros(total: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    block = bytes(chunk)
    for _ in range(total // chunk):
        yield block


def refused_as_too_large(answer: httpx.Response) -> bool:
    return answer.status_code == 413 and answer.json()["error"] == "too_large"


async def test_a_callback_announcing_more_than_the_limit_is_refused_before_it_is_read(metered):
    meter, http = metered

    answer = await http.post(
        "/callbacks/sandbox", content=zeros(HOSTILE), headers={"content-length": str(HOSTILE)}
    )

    assert refused_as_too_large(answer), answer.text
    assert meter.taken == 0


async def test_a_streamed_callback_is_refused_once_what_was_read_passes_the_limit(metered):
    meter, http = metered

    answer = await http.post("/callbacks/sandbox", content=zeros(HOSTILE))

    assert refused_as_too_large(answer), answer.text
    assert LIMIT < meter.taken <= LIMIT + meter.largest


async def test_a_signed_callback_of_exactly_the_limit_is_taken(payments: PaymentsHarness):
    await payments.sandbox.behave(send_callbacks=False)  # the test sends the callback itself
    _, payment_id = await payments.start_payment(90_000, escrow_id="esc-limit")
    await payments.pay(payment_id)
    started = await payments.wait_event("payment-started", payment_id=payment_id)
    claim = payments.sandbox.state.payments[started["redirect_url"].rsplit("/", 1)[1]]
    signed = json.dumps(claim.verification()).encode()

    async def post(body: bytes) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:  # streamed: no Content-Length
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(DEV_SECRET, body)}
        return await payments.http.post("/callbacks/sandbox", content=chunks(), headers=headers)

    over = await post(signed.ljust(LIMIT + 1))  # JSON may end in blanks
    exact = await post(signed.ljust(LIMIT))

    assert refused_as_too_large(over), over.text
    assert exact.status_code == 200, exact.text
    assert exact.json() == {"payment_id": payment_id, "status": "received", "received": True}
    await payments.wait_event("payment-received", payment_id=payment_id)


async def test_the_limit_stops_reading_at_the_chunk_that_passes_it():
    asked: list[int] = []

    async def endless(scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        async def receive() -> Message:
            asked.append(1)
            return {"type": "http.request", "body": bytes(100), "more_body": True}

        request = Request({**scope, "headers": headers}, receive)
        with pytest.raises(CallbackTooLarge):
            await bounded_body(request, 1024)

    scope: Scope = {"type": "http", "method": "POST", "path": "/callbacks/sandbox"}
    await endless(scope, [(b"content-length", b"1025")])
    assert asked == []  # refused on its announcement
    await endless(scope, [(b"content-length", b"1" * 5000)])
    assert asked == []
    await endless(scope, [])
    assert len(asked) == 11  # 1,100 bytes: the first chunk past 1,024


@pytest.mark.parametrize("limit", [1023, MIB + 1])
def test_the_limit_is_bounded(limit):
    with pytest.raises(ValidationError, match="callback_max_body_bytes"):
        PaymentsSettings(callback_max_body_bytes=limit)
