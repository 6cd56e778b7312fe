"""Test support of the notifications service: example events of every rule, a real SMTP server
(aiosmtpd), real HTTP receivers (a webhook endpoint that checks signatures, a fake of
Kavenegar's API) on free ports, and the service itself over the real broker and database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from notifications.entrypoints.app import build
from notifications.settings import NotificationsSettings
from shared.contract import disputes as d
from shared.contract import escrow as e
from shared.contract import payments as p
from shared.contract.base import Event
from shared.devstack.processes import free_port
from shared.service import Service
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, running, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.servers import Served, listening, serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NOW = datetime(2026, 1, 2, 10, 30, tzinfo=UTC)


# --- example events ---------------------------------------------------------------------------


def snapshot(**changes: Any) -> e.EscrowSnapshot:
    values: dict[str, Any] = {
        "escrow_id": "esc-1",
        "contract_id": "ctr-1",
        "employer_id": "emp-1",
        "contractor_id": "con-1",
        "kind": "agreed",
        "currency": "IRR",
        "amount": 12_500_000,
        "state": "funded",
        "held": 12_500_000,
        "funded_amount": 12_500_000,
        "created_at": NOW,
        "updated_at": NOW,
        "version": 3,
    }
    return e.EscrowSnapshot(**{**values, **changes})


def examples() -> dict[type[Event], Event]:
    """One plausible event of every type the rules name."""
    s = snapshot()
    dispute: dict[str, Any] = {
        "dispute_id": "dsp-1",
        "escrow_id": "esc-1",
        "employer_id": "emp-1",
        "contractor_id": "con-1",
        "state": "negotiation",
        "version": 2,
        "arbiter_id": "arb-1",
    }
    money: dict[str, Any] = {"amount": 12_500_000, "currency": "IRR"}
    refund: dict[str, Any] = {
        "refund_id": "rf-1",
        "payment_id": "pay-1",
        "employer_id": "emp-1",
        "cause": "escrow_refunded",
        "escrow_id": "esc-1",
        **money,
    }
    payment: dict[str, Any] = {"payment_id": "pay-1", "payer_id": "emp-1", **money}
    found: list[Event] = [
        e.ContractOpened(
            contract_id="ctr-1",
            employer_id="emp-1",
            contractor_id="con-1",
            currency="IRR",
            agreed_amount=50_000_000,
            title="طراحی لوگو",
        ),
        e.EscrowRequested(escrow=snapshot(state="requested", held=0)),
        e.EscrowCreated(escrow=snapshot(state="awaiting_payment", held=0)),
        e.EscrowRequestAccepted(escrow=snapshot(state="awaiting_payment", held=0)),
        e.EscrowDeclined(escrow=snapshot(state="declined", held=0), reason="budget changed"),
        e.EscrowCancelled(escrow=snapshot(state="cancelled", held=0), cause="payment_expired"),
        e.EscrowFunded(escrow=s, payment_id="pay-1", amount=12_500_000),
        e.WorkDelivered(escrow=snapshot(state="delivered"), note="see the attached files"),
        e.ChangesRequested(escrow=s, note="the colours are off"),
        e.EscrowReleased(
            escrow=snapshot(state="released", held=0),
            gross=12_500_000,
            fee=1_250_000,
            net=11_250_000,
        ),
        e.EscrowRefunded(escrow=snapshot(held=10_000_000), amount=2_500_000),
        e.EscrowDisputed(escrow=snapshot(state="disputed"), dispute_id="dsp-1"),
        e.EscrowSettled(
            escrow=snapshot(state="settled", held=0),
            dispute_id="dsp-1",
            verdict_kind="arbitration",
            contractor_amount=7_500_000,
            fee=750_000,
            contractor_net=6_750_000,
            employer_amount=5_000_000,
        ),
        e.ReleaseReminderDue(escrow=snapshot(state="delivered"), delivered_at=NOW),
        d.DisputeRejected(**dispute, reason_code="invalid_state", message="already released"),
        d.DisputeWithdrawn(**dispute),
        d.StatementSubmitted(**dispute, by="con-1", evidence_count=2),
        d.SettlementProposed(
            **dispute,
            proposal_id="prp-1",
            by="emp-1",
            contractor_amount=7_500_000,
            employer_amount=5_000_000,
            currency="IRR",
        ),
        d.DisputeEscalated(**dispute, cause="negotiation_window"),
        d.ArbiterAssigned(**dispute),
        d.VerdictIssued(
            **dispute,
            kind="arbitration",
            contractor_amount=7_500_000,
            employer_amount=5_000_000,
            currency="IRR",
            rationale="half the milestones were delivered",
        ),
        d.DisputeDeadlineDue(**dispute, deadline="respondent", stage="reminder", due_at=NOW),
        p.PaymentReceived(
            **payment,
            purpose="direct",
            payee_id="con-1",
            gateway="sandbox",
            reference="ref-77",
            guaranteed=False,
        ),
        p.PaymentFailed(**payment, purpose="escrow", escrow_id="esc-1", reason="cancelled"),
        p.PayoutCompleted(
            payout_id="po-1",
            user_id="con-1",
            iban_masked="IR06****1234",
            reference="ref-9",
            **money,
        ),
        p.PayoutFailed(
            payout_id="po-1", user_id="con-1", reason="bank offline", attempts=5, **money
        ),
        p.RefundCompleted(**refund, reference="ref-5"),
        p.RefundFailed(**refund, reason="gateway offline", attempts=5),
    ]
    return {type(event): event for event in found}


@pytest.fixture
def example_events() -> dict[type[Event], Event]:
    return examples()


@pytest.fixture
def funded() -> Callable[..., e.EscrowFunded]:
    """`funded("esc-2")`: an escrow-funded event of the example parties."""

    def make(escrow_id: str = "esc-1") -> e.EscrowFunded:
        return e.EscrowFunded(
            escrow=snapshot(escrow_id=escrow_id), payment_id="pay-1", amount=12_500_000
        )

    return make


# --- a real SMTP server -------------------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received, and how it behaves: it answers 451 to the first `refuse`
    messages, 421 (and hangs up) to the next `closing` MAIL commands, 550 to the recipients in
    `unknown`; with `hang_up_after_data` it takes the message and hangs up without a reply, with
    `stall` it never answers the end of DATA. It counts the connections it accepted."""

    host: str
    port: int
    refuse: int = 0
    refused: int = 0
    closing: int = 0
    unknown: set[str] = field(default_factory=set)
    hang_up_after_data: bool = False
    stall: bool = False
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    connections: int = 0
    quits: int = 0
    #: the sessions still connected (the server's side of each connection)
    open: set[Any] = field(default_factory=set)
    server_loop: asyncio.AbstractEventLoop | None = None

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in self.received if address in rcpts]

    def hang_up(self) -> None:
        """Close every connection from the server's side, as an idle timeout does."""
        assert self.server_loop is not None
        self.server_loop.call_soon_threadsafe(
            lambda: [session.transport.close() for session in list(self.open)]
        )

    async def all_closed(self, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while self.open:
                await asyncio.sleep(0.01)


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.box.closing:
            self.box.closing -= 1
            server.loop.call_soon(server.transport.close)  # after the reply is written
            return "421 4.4.2 closing the connection"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.box.unknown:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.box.stall:
            await asyncio.Event().wait()  # until the client gives up and hangs up
        if self.box.refused < self.box.refuse:
            self.box.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.box.received.append((list(envelope.rcpt_tos), message))
        if self.box.hang_up_after_data:
            server.transport.close()
            await asyncio.Event().wait()  # cancelled as the connection is lost: no reply
        return "250 2.0.0 accepted"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.box.quits += 1
        return "221 Bye"


class _Session(SMTP):
    """aiosmtpd's side of one connection, entered in the mailbox while it is open."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.box = handler.box

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the STARTTLS upgrade of a connection already counted
            self.box.connections += 1
            self.box.open.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.box.open.discard(self)
        super().connection_lost(error)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Session(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox("127.0.0.1", free_port())
    controller = _Controller(_Handler(box), hostname=box.host, port=box.port)
    controller.start()
    box.server_loop = controller.loop
    # start() proves the server is up over a connection of its own: not one of the test's
    deadline = time.monotonic() + 20
    while box.open and time.monotonic() < deadline:
        time.sleep(0.01)
    box.connections = 0
    try:
        yield box
    finally:
        controller.stop()


# --- real HTTP receivers ------------------------------------------------------------------------


#: receivers keep idle connections far longer than any test runs, so a connection that closes
#: was closed by the channel
KEEP_ALIVE_S = 600


@dataclass
class WebhookReceiver:
    """A user's endpoint: it checks the signature and the timestamp's freshness on its own."""

    secret: str
    answer: int = 204
    #: what the endpoint writes in its answer, never to be seen in a delivery's error
    answer_body: bytes = b""
    tolerance_s: int = 300
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["status"] < 300]

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        stamp = request.headers.get("x-escrow-timestamp", "")
        given = request.headers.get("x-escrow-signature", "")
        mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        signed = hmac.compare_digest("sha256=" + mac.hexdigest(), given)
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= self.tolerance_s
        status = 401 if not signed else 400 if not fresh else self.answer
        self.calls.append(
            {"status": status, "event": json.loads(body), "headers": dict(request.headers)}
        )
        return Response(self.answer_body if status == self.answer else b"", status_code=status)


@dataclass
class FakeKavenegar:
    """Kavenegar's `sms/send.json`: `return.status` from `statuses` (200 once they run out)."""

    api_key: str = "test-api-key"
    statuses: list[int] = field(default_factory=list)
    sent: list[dict[str, str]] = field(default_factory=list)

    async def send(self, request: Request) -> Response:
        if request.path_params["api_key"] != self.api_key:
            return JSONResponse({"return": {"status": 401, "message": "invalid key"}}, 401)
        # Parsed by hand: Starlette's form parser needs python-multipart, which nothing else needs.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return JSONResponse({"return": {"status": status, "message": "no credit"}}, status)
        self.sent.append(form)
        entry = {"messageid": len(self.sent), "status": 1, "receptor": form["receptor"]}
        return JSONResponse({"return": {"status": 200, "message": "تایید شد"}, "entries": [entry]})


@pytest.fixture
def serve() -> Callable[[Any], AbstractAsyncContextManager[str]]:
    return serving


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[tuple[WebhookReceiver, Served]]:
    """A webhook endpoint at `{served.url}/hook`, counting the connections it is called over."""
    receiver = WebhookReceiver(secret="whsec-test")
    app = Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])
    async with listening(app, keep_alive_s=KEEP_ALIVE_S) as served:
        yield receiver, served


@pytest.fixture
def webhook(webhook_receiver: tuple[WebhookReceiver, Served]) -> tuple[WebhookReceiver, str]:
    receiver, served = webhook_receiver
    return receiver, served.url + "/hook"


@pytest.fixture
async def kavenegar_server() -> AsyncIterator[tuple[FakeKavenegar, Served]]:
    """The fake of Kavenegar's API, counting the connections it is called over."""
    fake = FakeKavenegar()
    app = Starlette(routes=[Route("/v1/{api_key}/sms/send.json", fake.send, methods=["POST"])])
    async with listening(app, keep_alive_s=KEEP_ALIVE_S) as served:
        yield fake, served


@pytest.fixture
def kavenegar(kavenegar_server: tuple[FakeKavenegar, Served]) -> tuple[FakeKavenegar, str]:
    fake, served = kavenegar_server
    return fake, served.url


# --- the service over the real broker and database ------------------------------------------------

StartService = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture
async def start_service(
    infra: TestInfra, database_url: str, topic_prefix: str, smtp: Mailbox, actor_keys: KeyPair
) -> StartService:
    """Start the notifications service with tiny delays; keyword arguments override settings."""
    await migrated("notifications", database_url)

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Service]:
        values: dict[str, Any] = {
            "database_url": database_url,
            "kafka_bootstrap_servers": infra.bootstrap_servers,
            "topic_prefix": topic_prefix,
            "smtp_host": smtp.host,
            "smtp_port": smtp.port,
            "smtp_sender": "Escrow <no-reply@escrow.test>",
            "delivery_max_idle_ms": 50,
            "delivery_initial_backoff_s": 0.05,
            "delivery_max_backoff_s": 0.2,
            "delivery_max_attempts": 3,
            "webhook_allow_private_targets": True,  # the receivers listen on 127.0.0.1
            "actor_token_public_key": actor_keys.public_pem,
            **overrides,
        }
        service = build(settings_for_test(NotificationsSettings, **values))
        async with running(service):
            yield service

    return start
