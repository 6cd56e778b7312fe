"""A payout's claim (its lease) over the real broker and database: renewed while the gateway call
runs, so the lease can be short; given back at once when a drain cuts the call short, so the next
process does not wait the lease out.

No test bounds how long anything takes: each waits (generously) for a condition.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.adapters.tables import payouts
from payments.domain.iban import from_bban
from payments.testing.harness import PaymentsHarness
from shared.contract.base import Actor, Role
from shared.contract.payments import RequestPayout
from shared.db import Database
from shared.testing.fixtures import eventually

pytestmark = pytest.mark.integration

CONTRACTOR = Actor(user_id="con-7", role=Role.CONTRACTOR)
SHEBA = from_bban("IR", "0120000000001234567890")


class HangingPayouts:
    """The sandbox's payout call, held until `let_through` (the PSP slow to answer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.through = asyncio.Event()
        original = SandboxGateway.payout

        async def payout(gateway: SandboxGateway, transfer: object) -> str:
            self.calls += 1
            self.entered.set()
            await self.through.wait()
            return await original(gateway, transfer)  # type: ignore[arg-type]

        monkeypatch.setattr(SandboxGateway, "payout", payout)

    def let_through(self) -> None:
        self.through.set()


async def leased_until(database_url: str, payout_id: str) -> datetime:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            query = sa.select(payouts.c.next_attempt_at).where(payouts.c.payout_id == payout_id)
            found = await session.scalar(query)
    finally:
        await db.dispose()
    assert found is not None
    return found


async def request_payout(payments: PaymentsHarness, payout_id: str, amount: int) -> None:
    await payments.fund(amount, payee_id=CONTRACTOR.user_id)
    command = RequestPayout(
        actor=CONTRACTOR, payout_id=payout_id, amount=amount, currency="IRR", iban=SHEBA
    )
    assert (await payments.client.execute(command)).accepted


async def test_a_lease_is_renewed_while_the_gateway_call_runs(
    start_payments, database_url, monkeypatch
):
    hanging = HangingPayouts(monkeypatch)
    async with start_payments(transfer_lease_s=0.6) as payments:
        await request_payout(payments, "po-slow", 10_000)
        await asyncio.wait_for(hanging.entered.wait(), 60)
        first = await leased_until(database_url, "po-slow")

        async def renewed() -> bool:
            return await leased_until(database_url, "po-slow") > first + timedelta(seconds=0.5)

        await eventually(renewed, timeout=60)  # a fixed lease would run out here, unrenewed
        assert hanging.calls == 1
        hanging.let_through()
        await payments.wait_event("payout-completed", payout_id="po-slow")
        assert await payments.balance(CONTRACTOR.user_id) == 0


async def test_a_drain_that_cuts_a_gateway_call_short_gives_its_claim_back(
    start_payments, database_url, monkeypatch
):
    hanging = HangingPayouts(monkeypatch)
    async with start_payments(transfer_lease_s=120, graceful_timeout_s=0.5) as payments:
        await request_payout(payments, "po-cut", 10_000)
        await asyncio.wait_for(hanging.entered.wait(), 60)
        claimed = await leased_until(database_url, "po-cut")
        assert claimed > datetime.now(UTC) + timedelta(seconds=60)
    # the service drained (the call cut short after its graceful timeout): due again now, not
    # after the 120 s lease
    assert await leased_until(database_url, "po-cut") <= datetime.now(UTC)
