"""Fixtures of the disputes integration tests: the disputes AND the escrow service in-process,
each on its own fresh database, over the same real broker and topic prefix, with one ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from disputes.adapters.tables import escrow_views
from disputes.entrypoints.app import build as build_disputes
from disputes.settings import DisputesSettings
from escrow.entrypoints.app import build as build_escrow
from escrow.settings import EscrowSettings
from shared.client import SuiteClient
from shared.clock import ManualClock
from shared.contract import disputes as wire
from shared.contract import escrow as escrow_wire
from shared.contract.base import Actor, Command, Event, Role
from shared.contract.payments import PaymentPurpose, PaymentReceived
from shared.contract.results import CommandResult
from shared.service import Service
from shared.testing.events import owned_event
from shared.testing.fixtures import eventually
from shared.testing.harness import migrated, running, settings_for_test
from shared.testing.reads import reading

HOUR = 3600
DAY = 24 * HOUR


class Suite:
    """The marketplace back end and the payments service, as the two services see them."""

    employer = Actor(user_id="emp-1", role=Role.EMPLOYER)
    contractor = Actor(user_id="con-1", role=Role.CONTRACTOR)
    admin = Actor(user_id="adm-1", role=Role.ADMIN)
    arbiter = Actor(user_id="arb-1", role=Role.ARBITER)

    def __init__(
        self, client: SuiteClient, escrow: Service, disputes: Service, clock: ManualClock
    ) -> None:
        self.client = client
        self.escrow = escrow
        self.disputes = disputes
        self.clock = clock
        self.watcher = client.watcher

    async def do(self, command: Command) -> CommandResult:
        return await self.client.execute(command)

    async def publish(self, event: Event) -> None:
        envelope = owned_event(event)
        await self.client.publish(event.TOPIC, envelope.encode(), key=event.kafka_key())

    # --- escrows (through the real escrow service) -------------------------------------

    async def funded(self, escrow_id: str, amount: int, *, delivered: bool = False) -> None:
        """A funded (or delivered) escrow that the disputes service has heard of."""
        await self.contract(f"c-{escrow_id}")
        assert (await self.create(escrow_id, amount)).accepted
        await self.publish(self.payment(escrow_id, amount))
        await self.escrow_state(escrow_id, "funded")
        if delivered:
            deliver = escrow_wire.DeliverWork(actor=self.contractor, escrow_id=escrow_id)
            assert (await self.do(deliver)).accepted
        await self.known(escrow_id, "delivered" if delivered else "funded")

    async def contract(self, contract_id: str) -> None:
        opened = await self.do(
            escrow_wire.OpenContract(
                actor=self.employer,
                contract_id=contract_id,
                contractor_id=self.contractor.user_id,
                currency="IRR",
                agreed_amount=10_000_000,
            )
        )
        assert opened.accepted, opened

    async def create(self, escrow_id: str, amount: int) -> CommandResult:
        return await self.do(
            escrow_wire.CreateEscrow(
                actor=self.employer,
                escrow_id=escrow_id,
                contract_id=f"c-{escrow_id}",
                kind=escrow_wire.EscrowKind.AGREED,
                amount=amount,
            )
        )

    def payment(self, escrow_id: str, amount: int) -> PaymentReceived:
        return PaymentReceived(
            payment_id=f"pay-{escrow_id}",
            purpose=PaymentPurpose.ESCROW,
            payer_id=self.employer.user_id,
            amount=amount,
            currency="IRR",
            escrow_id=escrow_id,
            gateway="sandbox",
            reference="ref",
            guaranteed=True,
        )

    async def escrow_state(self, escrow_id: str, state: str) -> dict[str, Any]:
        """Wait until the escrow service's own read API shows `state`."""
        return await self._until(self.escrow, f"/escrows/{escrow_id}", "escrow", state)

    async def known(self, escrow_id: str, state: str) -> None:
        """Wait until the disputes service's escrow view has caught up with `state`."""
        query = sa.select(escrow_views.c.state).where(escrow_views.c.escrow_id == escrow_id)

        async def seen() -> bool:
            async with self.disputes.db.transaction() as session:
                return await session.scalar(query) == state

        await eventually(seen)

    # --- disputes ----------------------------------------------------------------------

    def open(self, dispute_id: str, escrow_id: str, by: Actor | None = None) -> wire.OpenDispute:
        return wire.OpenDispute(
            actor=by or self.contractor,
            dispute_id=dispute_id,
            escrow_id=escrow_id,
            reason=wire.DisputeReason.NOT_RELEASED,
            statement="The work was delivered on time and is not released.",
        )

    async def dispute_state(self, dispute_id: str, state: str) -> dict[str, Any]:
        return await self._until(self.disputes, f"/disputes/{dispute_id}", "dispute", state)

    def events(self, topic: str, dispute_id: str) -> list[dict[str, Any]]:
        return [e.data for e in self.watcher.events(topic) if e.data["dispute_id"] == dispute_id]

    async def wait_events(
        self, topic: str, dispute_id: str, count: int = 1
    ) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            found = self.events(topic, dispute_id)
            return found if len(found) >= count else None

        found: list[dict[str, Any]] = await self.watcher.wait_for(enough)
        return found

    async def read(self, service: Service, path: str) -> httpx.Response:
        async with reading(service.app(), self.client.private_key_pem or "") as http:
            return await http.get(path)

    async def _until(self, service: Service, path: str, key: str, state: str) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def reached() -> bool:
            answer = await self.read(service, path)
            found.update(answer.json())
            return answer.status_code == 200 and found[key]["state"] == state

        await eventually(reached)
        return found


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def fast(infra: Any, topic_prefix: str, actor_keys: Any) -> Callable[..., Any]:
    def settings(cls: type[Any], database_url: str, **values: Any) -> Any:
        return settings_for_test(
            cls,
            database_url=database_url,
            kafka_bootstrap_servers=infra.bootstrap_servers,
            topic_prefix=topic_prefix,
            actor_token_public_key=actor_keys.public_pem,
            **values,
        )

    return settings


@pytest.fixture
async def databases(infra: Any) -> tuple[str, str]:
    """A fresh, migrated database for each service (one after the other: alembic's context is
    global to the process)."""
    escrow, disputes = await asyncio.gather(
        infra.new_database("escrow"), infra.new_database("disputes")
    )
    return await migrated("escrow", escrow), await migrated("disputes", disputes)


@pytest.fixture
def escrow_settings(databases: tuple[str, str], fast: Callable[..., Any]) -> EscrowSettings:
    return fast(
        EscrowSettings,
        databases[0],
        timer_max_idle_ms=50,
        release_reminder_every_s=30 * DAY,
    )


@pytest.fixture
def disputes_settings(databases: tuple[str, str], fast: Callable[..., Any]) -> DisputesSettings:
    return fast(
        DisputesSettings,
        databases[1],
        dispute_timer_max_idle_ms=50,
        dispute_respondent_deadline_s=DAY,
        dispute_respondent_reminder_before_s=HOUR,
        dispute_negotiation_window_s=2 * DAY,
        dispute_arbitration_sla_s=3 * DAY,
    )


@pytest.fixture
async def suite(
    client: SuiteClient,
    escrow_settings: EscrowSettings,
    disputes_settings: DisputesSettings,
    clock: ManualClock,
) -> AsyncIterator[Suite]:
    escrow, disputes = (
        build_escrow(escrow_settings, clock=clock),
        build_disputes(disputes_settings, clock=clock),
    )
    async with running(escrow), running(disputes):
        yield Suite(client, escrow, disputes, clock)
