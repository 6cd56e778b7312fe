"""Run the payments service in-process beside a sandbox gateway, and drive it like its users do:
commands over Kafka, the payer at the sandbox's payment page, reads over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr
from shared.auth import ActorAuth
from shared.client import SuiteClient
from shared.contract.base import Actor, Event, Role
from shared.contract.escrow import EscrowKind, EscrowSnapshot, EscrowState
from shared.contract.payments import PaymentPurpose, StartPayment
from shared.contract.results import CommandResult
from shared.devstack.processes import free_port
from shared.service import Service
from shared.testing.events import owned_event
from shared.testing.harness import migrated, running, settings_for_test
from shared.testing.reads import ADMIN
from shared.testing.servers import serving
from starlette.routing import Router

from payments.entrypoints.app import build
from payments.sandbox.app import create_app
from payments.sandbox.settings import SandboxSettings
from payments.sandbox.signing import DEV_SECRET
from payments.sandbox.state import Behaviour, Sandbox
from payments.settings import PaymentsSettings
from payments.testing.ledger import ledger_problems

#: retries in milliseconds, so no test waits for real backoff
FAST_TRANSFERS: dict[str, Any] = {
    "payout_max_attempts": 3,
    "refund_max_attempts": 3,
    "transfer_initial_delay_ms": 5,
    "transfer_max_delay_ms": 20,
    "worker_max_idle_ms": 20,
    "transfer_lease_s": 30,
    "metrics_refresh_s": 0.5,
}


@dataclass
class SandboxHandle:
    url: str
    state: Sandbox

    async def behave(self, **changes: Any) -> None:
        self.state.behaviour.update(changes)

    async def behave_well(self) -> None:
        self.state.behaviour = Behaviour()


@asynccontextmanager
async def sandbox_gateway(secret: str = DEV_SECRET) -> AsyncIterator[SandboxHandle]:
    port = free_port()
    state = Sandbox()
    app = create_app(SandboxSettings(port=port, secret=SecretStr(secret)), state)
    async with serving(app, port) as url:
        yield SandboxHandle(url, state)


def employer(user_id: str = "emp-1") -> Actor:
    return Actor(user_id=user_id, role=Role.EMPLOYER)


def escrow_snapshot(
    escrow_id: str,
    *,
    version: int,
    amount: int,
    payment_id: str | None = None,
    employer_id: str = "emp-1",
    contractor_id: str = "con-1",
    currency: str = "IRR",
    state: EscrowState = EscrowState.RELEASED,
) -> EscrowSnapshot:
    now = datetime.now(UTC)
    return EscrowSnapshot(
        escrow_id=escrow_id,
        contract_id=f"contract-of-{escrow_id}",
        employer_id=employer_id,
        contractor_id=contractor_id,
        kind=EscrowKind.INSTANT,
        currency=currency,
        amount=amount,
        state=state,
        payment_id=payment_id,
        created_at=now,
        updated_at=now,
        version=version,
    )


@dataclass
class PaymentsHarness:
    service: Service
    sandbox: SandboxHandle
    client: SuiteClient
    http: httpx.AsyncClient

    # --- messages --------------------------------------------------------------------------

    def events(self, topic: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e.data
            for e in self.client.watcher.events(topic)
            if all(e.data.get(k) == v for k, v in match.items())
        ]

    async def wait_event(self, topic: str, **match: Any) -> dict[str, Any]:
        found: list[dict[str, Any]] = await self.client.watcher.wait_for(
            lambda: self.events(topic, **match)
        )
        return found[0]

    async def publish(self, event: Event) -> str:
        envelope = owned_event(event)
        await self.client.publish(event.TOPIC, envelope.encode(), key=event.kafka_key())
        return str(envelope.id)

    # --- payments --------------------------------------------------------------------------

    async def start_payment(
        self,
        amount: int,
        *,
        escrow_id: str | None = None,
        payee_id: str | None = None,
        payer: Actor | None = None,
        currency: str = "IRR",
        payment_id: str | None = None,
    ) -> tuple[CommandResult, str]:
        payment_id = payment_id or f"pay-{uuid.uuid4().hex[:10]}"
        command = StartPayment(
            actor=payer or employer(),
            payment_id=payment_id,
            purpose=PaymentPurpose.ESCROW if escrow_id else PaymentPurpose.DIRECT,
            amount=amount,
            currency=currency,
            escrow_id=escrow_id,
            payee_id=payee_id,
            description="tests",
        )
        return await self.client.execute(command), payment_id

    async def pay(self, payment_id: str, outcome: str = "paid", amount: int | None = None) -> Any:
        """The payer at the sandbox's page; the sandbox's answer lists its callbacks' statuses."""
        started = await self.wait_event("payment-started", payment_id=payment_id)
        body: dict[str, Any] = {"outcome": outcome}
        if amount is not None:
            body["amount"] = amount
        # the sandbox answers once its callback has been answered: on a busy machine that can
        # take longer than httpx's default 5 s (a CI run once timed out here)
        async with httpx.AsyncClient(timeout=60) as browser:
            answer = await browser.post(started["redirect_url"], json=body)
        answer.raise_for_status()
        return answer.json()

    async def fund(self, amount: int, **kw: Any) -> str:
        """A payment started, paid and received; its id."""
        result, payment_id = await self.start_payment(amount, **kw)
        assert result.accepted, result
        await self.pay(payment_id)
        await self.wait_event("payment-received", payment_id=payment_id)
        return payment_id

    # --- reads -----------------------------------------------------------------------------

    async def read(self, path: str) -> Any:
        response = await self.http.get(path)
        response.raise_for_status()
        return response.json()

    async def balance(self, user_id: str, currency: str = "IRR") -> int:
        wallet = await self.read(f"/wallets/{user_id}")
        return int(wallet["balances"].get(currency, 0))

    async def ledger_problems(self) -> list[str]:
        return await ledger_problems(self.service.db)


@asynccontextmanager
async def running_payments(
    *,
    bootstrap_servers: str,
    database_url: str,
    topic_prefix: str,
    public_key: str,
    client: SuiteClient,
    sandbox: SandboxHandle,
    **overrides: Any,
) -> AsyncIterator[PaymentsHarness]:
    """The payments service, migrated, consuming, with its HTTP routes served on a free port."""
    await migrated("payments", database_url)
    port = free_port()
    settings = settings_for_test(
        PaymentsSettings,
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        actor_token_public_key=public_key,
        sandbox_url=sandbox.url,
        public_url=f"http://127.0.0.1:{port}",
        **{**FAST_TRANSFERS, **overrides},
    )
    service = build(settings)
    async with (
        running(service),
        # one port for both listeners: the tests read and call back through it alike
        serving(Router(routes=[*service.http, *service.public_http]), port) as url,
        httpx.AsyncClient(
            base_url=url, auth=ActorAuth(client.private_key_pem or "", ADMIN)
        ) as http,
    ):
        yield PaymentsHarness(service, sandbox, client, http)
