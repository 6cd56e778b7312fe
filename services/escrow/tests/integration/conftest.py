"""Fixtures of the escrow service's integration tests: the real service, broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from escrow.entrypoints.app import build
from escrow.settings import EscrowSettings
from shared.client import SuiteClient
from shared.clock import ManualClock
from shared.contract import escrow as wire
from shared.contract.base import Actor, Event, Role
from shared.contract.payments import PaymentPurpose, PaymentReceived
from shared.contract.results import CommandResult
from shared.service import Service
from shared.testing.events import owned_event
from shared.testing.harness import migrated, running, settings_for_test
from shared.testing.reads import reading

ESCROW_TOPICS = [m.TOPIC for m in wire.EVENTS if issubclass(m, wire.EscrowEvent)]


class Market:
    """A marketplace back end and the other services, as the escrow service sees them."""

    employer = Actor(user_id="emp-1", role=Role.EMPLOYER)
    contractor = Actor(user_id="con-1", role=Role.CONTRACTOR)

    def __init__(self, client: SuiteClient, service: Service) -> None:
        self.client = client
        self.service = service
        self.watcher = client.watcher

    async def do(self, command: wire.Command, **kw: object) -> CommandResult:
        return await self.client.execute(command, **kw)

    async def publish(self, event: Event, *, event_id: str | None = None) -> str:
        envelope = owned_event(event, event_id=event_id)
        await self.client.publish(event.TOPIC, envelope.encode(), key=event.kafka_key())
        return envelope.id

    async def contract(self, contract_id: str = "c-1", agreed: int | None = 1_000_000) -> None:
        result = await self.do(
            wire.OpenContract(
                actor=self.employer,
                contract_id=contract_id,
                contractor_id="con-1",
                currency="IRR",
                agreed_amount=agreed,
            )
        )
        assert result.accepted, result

    async def escrow(self, escrow_id: str, amount: int, contract_id: str = "c-1") -> CommandResult:
        return await self.do(
            wire.CreateEscrow(
                actor=self.employer,
                escrow_id=escrow_id,
                contract_id=contract_id,
                kind=wire.EscrowKind.AGREED,
                amount=amount,
            )
        )

    def payment(
        self,
        escrow_id: str,
        amount: int,
        payment_id: str | None = None,
        payer_id: str = "emp-1",
    ) -> PaymentReceived:
        return PaymentReceived(
            payment_id=payment_id or f"pay-{escrow_id}",
            purpose=PaymentPurpose.ESCROW,
            payer_id=payer_id,
            amount=amount,
            currency="IRR",
            escrow_id=escrow_id,
            gateway="sandbox",
            reference="ref",
            guaranteed=True,
        )

    async def funded(self, escrow_id: str, amount: int, *, delivered: bool = False) -> None:
        assert (await self.escrow(escrow_id, amount)).accepted
        await self.publish(self.payment(escrow_id, amount))
        await self.state(escrow_id, "funded")
        if delivered:
            assert (
                await self.do(wire.DeliverWork(actor=self.contractor, escrow_id=escrow_id))
            ).accepted

    def snapshots(self, escrow_id: str) -> list[wire.EscrowSnapshot]:
        found = [
            wire.EscrowSnapshot.model_validate(e.data["escrow"])
            for topic in ESCROW_TOPICS
            for e in self.watcher.events(topic)
            if e.data.get("escrow", {}).get("escrow_id") == escrow_id
        ]
        return sorted(found, key=lambda s: s.version)

    def latest(self, escrow_id: str) -> wire.EscrowSnapshot | None:
        snapshots = self.snapshots(escrow_id)
        return snapshots[-1] if snapshots else None

    async def state(self, escrow_id: str, state: str, timeout: float = 20) -> wire.EscrowSnapshot:
        def reached() -> wire.EscrowSnapshot | None:
            latest = self.latest(escrow_id)
            return latest if latest and latest.state == state else None

        snapshot: wire.EscrowSnapshot = await self.watcher.wait_for(reached, timeout)
        return snapshot

    def events(self, topic: str, escrow_id: str) -> list[dict[str, object]]:
        return [
            e.data
            for e in self.watcher.events(topic)
            if e.data.get("escrow_id", e.data.get("escrow", {}).get("escrow_id")) == escrow_id
        ]

    async def wait_events(
        self, topic: str, escrow_id: str, count: int = 1
    ) -> list[dict[str, object]]:
        found: list[dict[str, object]] = await self.watcher.wait_for(
            lambda: len(self.events(topic, escrow_id)) >= count and self.events(topic, escrow_id)
        )
        return found

    async def read(self, path: str) -> httpx.Response:
        key = self.client.private_key_pem or ""
        async with reading(self.service.app(), key, base_url="http://escrow") as http:
            return await http.get(path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def escrow_settings(infra, database_url, topic_prefix, actor_keys) -> EscrowSettings:
    return settings_for_test(
        EscrowSettings,
        database_url=database_url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topic_prefix=topic_prefix,
        actor_token_public_key=actor_keys.public_pem,
        timer_max_idle_ms=50,
        metrics_refresh_s=0.05,
        payment_expiry_s=3600,
        release_reminder_every_s=86_400,
    )


@pytest.fixture
async def market(escrow_settings, client, clock) -> AsyncIterator[Market]:
    await migrated("escrow", escrow_settings.database_url)
    service = build(escrow_settings, clock=clock)
    async with running(service):
        yield Market(client, service)
