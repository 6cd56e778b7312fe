"""The whole suite as `make run` starts it (four service processes, the sandbox gateway, the
mail catcher, PostgreSQL and Tansu), driven from outside: Kafka, the sandbox, the read APIs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from payments.cli import pay_and_complete
from shared.auth import ActorAuth
from shared.cli.config import CliConfig
from shared.cli.reconcile import fetch
from shared.client import SuiteClient
from shared.contract import escrow as wire
from shared.contract.base import Actor, Role
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import new_event
from shared.contract.payments import PaymentPurpose, StartPayment
from shared.contract.registry import all_topics, topics_with_dlq
from shared.contract.results import CommandResult
from shared.devstack.processes import free_port
from shared.devstack.stack import SERVICES, StackConfig, SuiteStack
from shared.testing.reads import ADMIN

FAST = {
    "OUTBOX_POLL_INTERVAL_MS": "50",
    "KAFKA_FETCH_MAX_WAIT_MS": "50",
    "TIMER_MAX_IDLE_MS": "200",
    "WORKER_MAX_IDLE_MS": "100",
    "TRANSFER_INITIAL_DELAY_MS": "100",
    "TRANSFER_MAX_DELAY_MS": "500",
    "DELIVERY_MAX_IDLE_MS": "100",
    "DELIVERY_INITIAL_BACKOFF_S": "0.1",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SuiteStack]:
    config = StackConfig(
        var_dir=tmp_path_factory.mktemp("suite") / "var",
        postgres_port=free_port(),
        kafka_port=free_port(),
        smtp_port=free_port(),
        sandbox_port=free_port(),
        http_ports={name: free_port() for name in SERVICES},
        fast_postgres=True,
        service_env=FAST,
    )
    suite = SuiteStack(config, say=lambda line: None)
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()


@pytest.fixture(scope="session")
async def market(stack: SuiteStack) -> AsyncIterator[Marketplace]:
    key = (stack.keys_dir / "actor-token.key.pem").read_text()
    async with SuiteClient(
        stack.bootstrap_servers,
        private_key_pem=key,
        watch=topics_with_dlq(all_topics()),
        keyring=stack.keyring(),
    ) as client:
        yield Marketplace(stack, client)


class Marketplace:
    """What a marketplace back end does with the suite, and what it can see of it."""

    @staticmethod
    def employer(user_id: str) -> Actor:
        return Actor(user_id=user_id, role=Role.EMPLOYER)

    @staticmethod
    def contractor(user_id: str) -> Actor:
        return Actor(user_id=user_id, role=Role.CONTRACTOR)

    def __init__(self, stack: SuiteStack, client: SuiteClient) -> None:
        self.stack = stack
        self.client = client
        self.watcher = client.watcher

    async def do(self, command: wire.Command) -> CommandResult:
        return await self.client.execute(command, timeout=60)

    async def ok(self, command: wire.Command) -> CommandResult:
        result = await self.do(command)
        assert result.accepted, result
        return result

    async def contact(self, user_id: str, email: str) -> None:
        event = UserContactUpdated(user_id=user_id, email=email, language="en")
        signer = self.stack.signer("marketplace")
        envelope = new_event(event, source=signer.producer, signer=signer)
        await self.client.publish(event.TOPIC, envelope.encode(), key=user_id)

    async def contract(
        self, contract_id: str, emp: str, con: str, agreed: int | None, currency: str = "IRR"
    ) -> None:
        await self.ok(
            wire.OpenContract(
                actor=self.employer(emp),
                contract_id=contract_id,
                contractor_id=con,
                currency=currency,
                agreed_amount=agreed,
            )
        )

    async def create(
        self, escrow_id: str, contract_id: str, emp: str, amount: int, kind: wire.EscrowKind
    ) -> None:
        """The employer creates a secure payment under his contract."""
        await self.ok(
            wire.CreateEscrow(
                actor=self.employer(emp),
                escrow_id=escrow_id,
                contract_id=contract_id,
                kind=kind,
                amount=amount,
            )
        )

    async def pay(
        self,
        escrow_id: str,
        amount: int,
        emp: str,
        outcome: str = "paid",
        payment_id: str | None = None,
    ) -> dict[str, Any]:
        """The employer pays the escrow at the sandbox, with `outcome`."""
        command = self.payment(escrow_id, amount, emp, payment_id=payment_id)
        return await pay_and_complete(self.client, command, outcome)

    async def start(
        self, payment_id: str, escrow_id: str, emp: str, amount: int, currency: str
    ) -> dict[str, Any]:
        """The employer opens the payment of an escrow; what `payment-started` says."""
        await self.ok(self.payment(escrow_id, amount, emp, payment_id, currency))
        return await self.event("payment-started", payment_id=payment_id)

    def payment(
        self,
        escrow_id: str,
        amount: int,
        emp: str,
        payment_id: str | None = None,
        currency: str = "IRR",
    ) -> StartPayment:
        return StartPayment(
            actor=self.employer(emp),
            payment_id=payment_id or f"pay-{escrow_id}",
            purpose=PaymentPurpose.ESCROW,
            amount=amount,
            currency=currency,
            escrow_id=escrow_id,
        )

    async def complete_at_sandbox(self, redirect_url: str) -> None:
        async with httpx.AsyncClient(timeout=30) as browser:
            (await browser.post(redirect_url, json={"outcome": "paid"})).raise_for_status()

    def latest(self, escrow_id: str) -> wire.EscrowSnapshot | None:
        topics = [m.TOPIC for m in wire.EVENTS if issubclass(m, wire.EscrowEvent)]
        snapshots = [
            wire.EscrowSnapshot.model_validate(e.data["escrow"])
            for topic in topics
            for e in self.watcher.events(topic)
            if e.data.get("escrow", {}).get("escrow_id") == escrow_id
        ]
        return max(snapshots, key=lambda s: s.version) if snapshots else None

    async def state(self, escrow_id: str, state: str, timeout: float = 60) -> wire.EscrowSnapshot:
        def reached() -> wire.EscrowSnapshot | None:
            latest = self.latest(escrow_id)
            return latest if latest and latest.state == state else None

        found: wire.EscrowSnapshot = await self.watcher.wait_for(reached, timeout)
        return found

    async def event(self, topic: str, timeout: float = 60, **match: Any) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for event in self.watcher.events(topic):
                if all(_get(event.data, k) == v for k, v in match.items()):
                    return event.data
            return None

        data: dict[str, Any] = await self.watcher.wait_for(found, timeout)
        return data

    async def read(self, service: str, path: str) -> Any:
        key = (self.stack.keys_dir / "actor-token.key.pem").read_text()
        auth = ActorAuth(key, ADMIN)
        async with httpx.AsyncClient(
            base_url=self.stack.url(service), timeout=10, auth=auth
        ) as http:
            answer = await http.get(path)
            answer.raise_for_status()
            return answer.json()

    async def reconciled(self, timeout: float = 60) -> str:
        """Wait until the books agree (messages may still be in flight), then run
        `escrowctl reconcile` as an operator would and return what it printed."""
        env = {**os.environ, "ESCROW_VAR_DIR": str(self.stack.config.var_dir)}
        config = _config(env)
        async with asyncio.timeout(timeout):
            while any(book.mismatches for book in await asyncio.to_thread(fetch, config)):
                await asyncio.sleep(0.2)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.cli.main", "reconcile"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def _config(env: dict[str, str]) -> CliConfig:
    previous = os.environ.get("ESCROW_VAR_DIR")
    os.environ["ESCROW_VAR_DIR"] = env["ESCROW_VAR_DIR"]
    try:
        return CliConfig.load()
    finally:
        if previous is None:
            del os.environ["ESCROW_VAR_DIR"]
        else:
            os.environ["ESCROW_VAR_DIR"] = previous


def _get(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("__"):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data if data != {} else None
