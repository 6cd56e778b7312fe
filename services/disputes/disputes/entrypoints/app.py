"""Builds the disputes service: it consumes `dispute-commands` and every escrow topic that carries
a snapshot, runs the deadline loop and serves the read API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from shared.clock import Clock
from shared.contract import disputes as wire
from shared.contract import escrow as escrow_wire
from shared.loops import Alarm, every, scheduled
from shared.messaging.runtime import HandlerContext
from shared.service import Service, build_service

from disputes import domain
from disputes.entrypoints.http import routes
from disputes.service_layer import commands, events
from disputes.service_layer.deadlines import deadlines_round, refresh_gauge
from disputes.service_layer.unit import DisputeUnit
from disputes.settings import DisputesSettings

CONTEXT = "disputes"

CHANGES = (
    wire.SubmitStatement,
    wire.ProposeSettlement,
    wire.AcceptSettlement,
    wire.EscalateDispute,
    wire.AssignArbiter,
    wire.IssueVerdict,
    wire.WithdrawDispute,
)
SAGA: dict[type[Any], Callable[[Any, DisputeUnit], Awaitable[None]]] = {
    escrow_wire.EscrowDisputed: events.escrow_disputed,
    escrow_wire.EscrowDisputeRejected: events.escrow_dispute_rejected,
    escrow_wire.EscrowSettled: events.escrow_settled,
}
#: the other escrow events: each only refreshes what this service knows of the escrow
SNAPSHOTS = tuple(
    model
    for model in escrow_wire.EVENTS
    if issubclass(model, escrow_wire.EscrowEvent) and model not in SAGA
)


def build(settings: DisputesSettings | None = None, clock: Clock | None = None) -> Service:
    settings = settings or DisputesSettings()
    service = build_service(
        settings,
        package="disputes",
        context=CONTEXT,
        refusals=(domain.DisputeRefusal,),
        clock=clock,
    )
    policy = settings.deadline_policy()
    runtime, deadlines = service.runtime, Alarm()
    runtime.consume_commands(wire.OpenDispute.TOPIC)

    def bind(handler: Callable[[Any, DisputeUnit], Awaitable[Any]]) -> Any:
        async def handle(message: Any, ctx: HandlerContext) -> Any:
            return await handler(message, DisputeUnit(ctx, policy, deadlines))

        return handle

    runtime.on_command(wire.OpenDispute)(bind(commands.open_dispute))
    for change in CHANGES:
        runtime.on_command(change)(bind(commands.change))
    for model in SNAPSHOTS:
        runtime.on_event(model)(bind(events.escrow_changed))
    for model, handler in SAGA.items():
        runtime.on_event(model)(bind(handler))
    service.http = routes(service.db, service.readers)
    service.loops.append(
        scheduled(
            partial(deadlines_round, runtime, policy, deadlines, settings.timer_retry()),
            "dispute deadlines",
            clock=service.clock,
            max_idle=timedelta(milliseconds=settings.dispute_timer_max_idle_ms),
            alarm=deadlines,
        )
    )
    service.loops.append(
        every(
            partial(refresh_gauge, runtime),
            timedelta(seconds=settings.metrics_refresh_s),
            "disputes gauge",
            clock=service.clock,
        )
    )
    return service
