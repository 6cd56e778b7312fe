"""Builds the escrow service: it consumes `escrow-commands`, `payment-received`,
`dispute-opened`, `dispute-withdrawn` and `verdict-issued`, runs the timers, serves the read API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from shared.clock import Clock
from shared.contract import disputes as disputes_wire
from shared.contract import escrow as wire
from shared.contract.payments import PaymentReceived
from shared.loops import Alarm, every, scheduled
from shared.messaging.runtime import HandlerContext
from shared.service import Service, build_service

from escrow import domain
from escrow.entrypoints.http import routes
from escrow.service_layer import commands, events
from escrow.service_layer.gauges import refresh_money_held
from escrow.service_layer.timers import timers_round
from escrow.service_layer.unit import EscrowUnit, Rules
from escrow.settings import EscrowSettings

CONTEXT = "escrow"

CHANGES = (
    wire.AcceptEscrowRequest,
    wire.DeclineEscrowRequest,
    wire.CancelEscrow,
    wire.DeliverWork,
    wire.RequestChanges,
    wire.ReleaseEscrow,
    wire.RefundEscrow,
)
EVENTS: dict[type[Any], Callable[[Any, EscrowUnit], Awaitable[None]]] = {
    PaymentReceived: events.payment_received,
    disputes_wire.DisputeOpened: events.dispute_opened,
    disputes_wire.DisputeWithdrawn: events.dispute_withdrawn,
    disputes_wire.VerdictIssued: events.verdict_issued,
}


def build(settings: EscrowSettings | None = None, clock: Clock | None = None) -> Service:
    settings = settings or EscrowSettings()
    service = build_service(
        settings, package="escrow", context=CONTEXT, refusals=(domain.EscrowRefusal,), clock=clock
    )
    rules = Rules(fees=settings.fees(), timers=settings.timer_policy())
    runtime, timers = service.runtime, Alarm()

    def bind(handler: Callable[[Any, EscrowUnit], Awaitable[Any]]) -> Any:
        async def handle(message: Any, ctx: HandlerContext) -> Any:
            return await handler(message, EscrowUnit(ctx, rules, timers))

        return handle

    runtime.on_command(wire.OpenContract)(bind(commands.open_contract))
    runtime.on_command(wire.CreateEscrow)(bind(commands.create_escrow))
    runtime.on_command(wire.RequestEscrow)(bind(commands.create_escrow))
    for change in CHANGES:
        runtime.on_command(change)(bind(commands.change))
    for event, handler in EVENTS.items():
        runtime.on_event(event)(bind(handler))
    service.http = routes(service.db, service.readers)
    service.loops.append(
        scheduled(
            partial(timers_round, runtime, rules, timers, settings.timer_retry()),
            "escrow timers",
            clock=service.clock,
            max_idle=timedelta(milliseconds=settings.timer_max_idle_ms),
            alarm=timers,
        )
    )
    service.loops.append(
        every(
            partial(refresh_money_held, service.db, rules.currencies),
            timedelta(seconds=settings.metrics_refresh_s),
            "money-held gauge",
            clock=service.clock,
        )
    )
    return service
