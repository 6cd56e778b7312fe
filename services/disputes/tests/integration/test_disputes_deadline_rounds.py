"""The deadline loop against the real database, driven step by step (the service is built, not
started): one lock order with the commands, and one failing deadline that cannot hold back the
rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from disputes.adapters.repository import DisputeRepository
from disputes.adapters.tables import dispute_timers, metadata
from disputes.domain import EMPLOYER, Actor, Dispute, EscrowSnapshot
from disputes.entrypoints.app import build
from disputes.service_layer import commands
from disputes.service_layer.deadlines import deadlines_round
from disputes.service_layer.unit import DisputeUnit
from prometheus_client import REGISTRY
from shared.contract import disputes as wire
from shared.contract.base import Actor as WireActor
from shared.contract.base import Role
from shared.loops import Alarm
from shared.service import Service
from shared.testing.fixtures import eventually
from shared.testing.harness import held_at_load, lock_waits, schema_drift
from shared.timers import TimerRetry

CONTRACTOR = WireActor(user_id="u-con", role=Role.CONTRACTOR)
REMINDER = "respondent_reminder"
#: generous: a bound for a hung test, never a measure of the machine's speed
PATIENCE = 120


@pytest.fixture
async def service(disputes_settings, clock) -> AsyncIterator[Service]:
    built = build(disputes_settings, clock=clock)  # `databases` has migrated it
    try:
        yield built
    finally:
        await built.db.dispose()


async def negotiating(service: Service, dispute_id: str, escrow_id: str) -> None:
    """A dispute the employer opened, negotiating: the contractor has a deadline to answer."""
    now = service.clock.now()
    escrow = EscrowSnapshot(escrow_id, "u-emp", "u-con", "funded", "IRR")
    dispute = Dispute.open(
        dispute_id=dispute_id,
        escrow=escrow,
        actor=Actor("u-emp", EMPLOYER),
        reason="quality",
        statement="not delivered",
        now=now,
    )
    dispute.escrow_disputed(100_000, now)
    async with service.runtime.unit_of_work() as ctx:
        await DisputeUnit(ctx, service.settings.deadline_policy()).save(dispute)  # type: ignore[attr-defined]
    service.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]


def policy(service: Service) -> Any:
    return service.settings.deadline_policy()  # type: ignore[attr-defined]


async def reminder(service: Service, dispute_id: str) -> Any:
    async with service.db.transaction() as session:
        rows = await session.execute(
            sa.select(dispute_timers).where(
                dispute_timers.c.dispute_id == dispute_id, dispute_timers.c.kind == REMINDER
            )
        )
        return rows.one_or_none()


async def test_a_deadline_and_a_command_lock_the_dispute_first_so_they_never_deadlock(
    service, clock, monkeypatch
):
    """The deadline loop gets as far as it goes before it loads the dispute; the respondent
    then answers as his reminder falls due (the command locks the dispute and replaces its
    timers); then the loop goes on. Had the loop locked the timer row first, each would wait for
    the other (40P01); in one order, the command goes first and the reminder finds itself gone."""
    await negotiating(service, "d-1", "e-1")
    clock.advance(timedelta(hours=23, minutes=30))  # the respondent's reminder is due
    round_task, go = await held_at_load(
        monkeypatch,
        DisputeRepository,
        lambda: deadlines_round(service.runtime, policy(service), Alarm()),
        PATIENCE,
    )
    answer = wire.SubmitStatement(actor=CONTRACTOR, dispute_id="d-1", text="it was delivered")

    async def answered() -> Any:
        async with service.runtime.unit_of_work() as ctx:
            return await commands.change(answer, DisputeUnit(ctx, policy(service)))

    command = asyncio.create_task(answered())

    async def command_done_or_blocked() -> bool:
        return command.done() or await lock_waits(service.db) > 0

    await eventually(command_done_or_blocked, timeout=PATIENCE)
    go.set()
    async with asyncio.timeout(PATIENCE):
        outcomes = await asyncio.gather(round_task, command, return_exceptions=True)

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == [], errors  # before: DeadlockDetectedError (40P01) in one of them
    async with service.db.transaction() as session:
        dispute = await DisputeRepository(session).get("d-1", lock=False)
    assert dispute is not None and dispute.respondent_answered
    assert REMINDER not in dispute.fired_timers  # answered first: the reminder no longer applies


async def test_a_deadline_that_always_fails_holds_back_no_other_and_is_parked_after_its_attempts(
    service, clock, monkeypatch
):
    """d-bad's reminder is due first and firing it always raises: d-good's still fires in the
    same round; d-bad's is tried again later, and parked (counted, never claimed again) after its
    last attempt."""
    await negotiating(service, "d-bad", "e-bad")
    await negotiating(service, "d-good", "e-good")
    clock.advance(timedelta(hours=23, minutes=30))
    real_fire = Dispute.fire

    def fire(self: Dispute, kind: str, policy: Any, now: Any) -> bool:
        if self.dispute_id == "d-bad":
            raise RuntimeError("the reminder template is broken")
        return real_fire(self, kind, policy, now)

    monkeypatch.setattr(Dispute, "fire", fire)
    retry = TimerRetry(max_attempts=2, initial=timedelta(seconds=10), longest=timedelta(minutes=1))
    labels = {"service": "disputes", "kind": REMINDER}
    parked_before = REGISTRY.get_sample_value("escrow_suite_timers_parked_total", labels) or 0.0

    await deadlines_round(service.runtime, policy(service), Alarm(), retry)

    good = await reminder(service, "d-good")
    assert good is not None and good.fired_at is not None  # before: never reached
    bad = await reminder(service, "d-bad")
    assert (bad.attempts, bad.fired_at, bad.parked_at) == (1, None, None)
    assert bad.due_at == clock.now() + timedelta(seconds=10)
    assert bad.last_error == "RuntimeError: the reminder template is broken"

    clock.advance(timedelta(seconds=10))
    await deadlines_round(service.runtime, policy(service), Alarm(), retry)
    parked = await reminder(service, "d-bad")
    assert parked.attempts == 2 and parked.parked_at == clock.now() and parked.fired_at is None
    assert REGISTRY.get_sample_value("escrow_suite_timers_parked_total", labels) == (
        parked_before + 1
    )
    parked_rows = {"service": "disputes"}
    assert REGISTRY.get_sample_value("escrow_suite_timers_parked_rows", parked_rows) == 1

    clock.advance(timedelta(minutes=5))  # still before d-bad's respondent deadline
    await deadlines_round(service.runtime, policy(service), Alarm(), retry)
    assert (await reminder(service, "d-bad")).attempts == 2  # never claimed again


async def test_the_migrations_build_the_timer_columns_the_code_uses(service):
    assert await schema_drift(service.db, metadata) == []
