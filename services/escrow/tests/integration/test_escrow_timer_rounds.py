"""The timer loop against the real database, driven step by step (the service is built, not
started): one lock order with the commands, and one failing timer that cannot hold back the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from escrow.adapters.repository import EscrowRepository
from escrow.adapters.tables import escrow_timers, metadata
from escrow.entrypoints.app import build
from escrow.service_layer import commands, timers
from escrow.service_layer.timers import timers_round
from escrow.service_layer.unit import EscrowUnit, Rules
from prometheus_client import REGISTRY
from shared.contract import escrow as wire
from shared.contract.base import Actor, Role
from shared.loops import Alarm
from shared.service import Service
from shared.testing.fixtures import eventually
from shared.testing.harness import held_at_load, lock_waits, migrated, schema_drift
from shared.timers import TimerRetry

EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
#: generous: a bound for a hung test, never a measure of the machine's speed
PATIENCE = 120


@pytest.fixture
async def service(escrow_settings, clock) -> AsyncIterator[Service]:
    await migrated("escrow", escrow_settings.database_url)
    built = build(escrow_settings, clock=clock)
    try:
        yield built
    finally:
        await built.db.dispose()


def rules_of(service: Service) -> Rules:
    settings = service.settings
    return Rules(fees=settings.fees(), timers=settings.timer_policy())  # type: ignore[attr-defined]


async def handle(service: Service, handler: Callable[..., Awaitable[Any]], cmd: Any) -> Any:
    """A command handled as the consumer would, in its own transaction."""
    async with service.runtime.unit_of_work() as ctx:
        return await handler(cmd, EscrowUnit(ctx, rules_of(service)))


async def unpaid(service: Service, *escrow_ids: str) -> None:
    """Escrows awaiting payment under one contract, each with its payment-expiry timer."""
    await handle(
        service,
        commands.open_contract,
        wire.OpenContract(
            actor=EMPLOYER,
            contract_id="c-1",
            contractor_id="con-1",
            currency="IRR",
            agreed_amount=None,
        ),
    )
    for escrow_id in escrow_ids:
        create = wire.CreateEscrow(
            actor=EMPLOYER,
            escrow_id=escrow_id,
            contract_id="c-1",
            kind=wire.EscrowKind.AGREED,
            amount=10_000,
        )
        await handle(service, commands.create_escrow, create)
        service.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]


async def state(service: Service, escrow_id: str) -> str:
    async with service.db.transaction() as session:
        escrow = await EscrowRepository(session).get(escrow_id, lock=False)
    assert escrow is not None
    return escrow.state.value


async def timer_row(service: Service, escrow_id: str) -> Any:
    async with service.db.transaction() as session:
        rows = await session.execute(
            sa.select(escrow_timers).where(escrow_timers.c.escrow_id == escrow_id)
        )
        return rows.one()


async def test_a_timer_and_a_command_lock_the_escrow_first_so_they_never_deadlock(
    service, clock, monkeypatch
):
    """The timer loop gets as far as it goes before it loads the escrow; the employer then
    cancels the escrow at its payment deadline (the command locks the escrow and replaces its
    timers); then the loop goes on. Had the loop locked the timer row first, each would now wait
    for the other (40P01); in one order, the command goes first and the timer finds itself gone."""
    await unpaid(service, "e-1")
    clock.advance(timedelta(hours=2))  # the payment deadline has passed
    round_task, go = await held_at_load(
        monkeypatch,
        EscrowRepository,
        lambda: timers_round(service.runtime, rules_of(service), Alarm()),
        PATIENCE,
    )
    cancel = wire.CancelEscrow(actor=EMPLOYER, escrow_id="e-1", reason="changed my mind")
    command = asyncio.create_task(handle(service, commands.change, cancel))

    async def command_done_or_blocked() -> bool:
        return command.done() or await lock_waits(service.db) > 0

    await eventually(command_done_or_blocked, timeout=PATIENCE)
    go.set()
    async with asyncio.timeout(PATIENCE):
        outcomes = await asyncio.gather(round_task, command, return_exceptions=True)

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == [], errors  # before: DeadlockDetectedError (40P01) in one of them
    assert await state(service, "e-1") == "cancelled"
    async with service.db.transaction() as session:
        types = await session.scalars(
            sa.text("SELECT type FROM escrow_history WHERE escrow_id = 'e-1' ORDER BY version")
        )
        assert [t for t in types if "Cancelled" in t] == ["escrow.EscrowCancelled.v1"]


async def test_a_timer_that_always_fails_holds_back_no_other_and_is_parked_after_its_attempts(
    service, clock, monkeypatch
):
    """e-bad's expiry is due first and its firing always raises: e-good's still fires in the same
    round; e-bad is tried again later and later, and parked (counted, never claimed again) after
    its last attempt."""
    await unpaid(service, "e-bad", "e-good")
    clock.advance(timedelta(hours=2))
    real_fire = timers.fire

    def fire(escrow: Any, kind: str, unit: EscrowUnit) -> None:
        if escrow.escrow_id == "e-bad":
            raise RuntimeError("the reminder template is broken\n[SQL: SELECT secret]")
        real_fire(escrow, kind, unit)

    monkeypatch.setattr(timers, "fire", fire)
    retry = TimerRetry(max_attempts=3, initial=timedelta(seconds=10), longest=timedelta(minutes=1))
    labels = {"service": "escrow", "kind": "payment_expiry"}
    parked_before = REGISTRY.get_sample_value("escrow_suite_timers_parked_total", labels) or 0.0
    rules = rules_of(service)

    next_due = await timers_round(service.runtime, rules, Alarm(), retry)

    assert await state(service, "e-good") == "cancelled"  # before: never reached
    assert await state(service, "e-bad") == "awaiting_payment"
    first = await timer_row(service, "e-bad")
    assert (first.attempts, first.parked_at, first.fired_at) == (1, None, None)
    assert first.due_at == clock.now() + timedelta(seconds=10) == next_due
    assert first.last_error == "RuntimeError: the reminder template is broken"

    clock.advance(timedelta(seconds=10))
    await timers_round(service.runtime, rules, Alarm(), retry)
    second = await timer_row(service, "e-bad")
    assert second.attempts == 2 and second.parked_at is None
    assert second.due_at == clock.now() + timedelta(seconds=20)  # doubled

    clock.advance(timedelta(seconds=20))
    assert await timers_round(service.runtime, rules, Alarm(), retry) is None  # none left due
    parked = await timer_row(service, "e-bad")
    assert parked.attempts == 3 and parked.parked_at == clock.now() and parked.fired_at is None
    assert REGISTRY.get_sample_value("escrow_suite_timers_parked_total", labels) == (
        parked_before + 1
    )
    parked_rows = {"service": "escrow"}
    assert REGISTRY.get_sample_value("escrow_suite_timers_parked_rows", parked_rows) == 1

    clock.advance(timedelta(days=1))
    await timers_round(service.runtime, rules, Alarm(), retry)
    assert (await timer_row(service, "e-bad")).attempts == 3  # never claimed again


async def test_the_migrations_build_the_timer_columns_the_code_uses(service):
    assert await schema_drift(service.db, metadata) == []
