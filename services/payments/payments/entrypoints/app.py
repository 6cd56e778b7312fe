"""Builds the payments service: its settings, gateways, message handlers, routes and workers."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from shared.clock import Clock
from shared.contract.escrow import EscrowRefunded, EscrowReleased, EscrowSettled, FundingRejected
from shared.contract.payments import RequestPayout, RetryRefund, StartPayment
from shared.loops import Alarm, BackgroundLoop, Round, every, scheduled
from shared.service import Service, build_service

from payments.adapters.gateways.factory import build_gateways
from payments.adapters.gateways.port import Gateways
from payments.domain.errors import PaymentsRefusal
from payments.domain.payout import Payout
from payments.domain.refund import Refund
from payments.entrypoints.http import routes
from payments.service_layer import funding, payouts, refunds, views, wallets
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.inquiries import InquiryWorker
from payments.service_layer.transfers import TransferWorker
from payments.settings import PaymentsSettings

CONTEXT = "payments"


def build(
    settings: PaymentsSettings | None = None,
    *,
    gateways: Gateways | None = None,
    clock: Clock | None = None,
) -> Service:
    settings = settings or PaymentsSettings()
    service = build_service(
        settings, package="payments", context=CONTEXT, refusals=(PaymentsRefusal,), clock=clock
    )
    if gateways is None:
        gateways = build_gateways(settings)
        service.on_stop.append(gateways.aclose)  # a caller's own gateways stay the caller's
    deps = Dependencies(
        settings=settings,
        gateways=gateways,
        db=service.db,
        clock=service.clock,
        signer=service.runtime.signer,
        readers=service.readers,
        nudge=service.relay.nudge,
    )
    _register_handlers(service, deps)
    reads, callbacks = routes(deps)
    service.http.extend(reads)
    service.public_http.extend(callbacks)
    service.loops.extend(_workers(settings, deps, service))
    return service


def _register_handlers(service: Service, deps: Dependencies) -> None:
    runtime = service.runtime
    runtime.consume_commands("payment-commands")
    runtime.on_command(StartPayment)(partial(funding.start_payment, deps=deps))
    runtime.on_command(RequestPayout)(partial(payouts.request_payout, deps=deps))
    runtime.on_command(RetryRefund)(partial(refunds.retry_refund, deps=deps))
    runtime.on_event(EscrowReleased)(partial(wallets.escrow_released, deps=deps))
    runtime.on_event(EscrowSettled)(partial(wallets.escrow_settled, deps=deps))
    runtime.on_event(EscrowRefunded)(partial(refunds.escrow_refunded, deps=deps))
    runtime.on_event(FundingRejected)(partial(refunds.funding_rejected, deps=deps))


def _workers(
    settings: PaymentsSettings, deps: Dependencies, service: Service
) -> list[BackgroundLoop]:
    max_idle = timedelta(milliseconds=settings.worker_max_idle_ms)

    def worker(run: Round, name: str, alarm: Alarm) -> BackgroundLoop:
        return scheduled(run, name, clock=service.clock, max_idle=max_idle, alarm=alarm)

    payout_worker = TransferWorker(
        Payout,
        "payout",
        deps,
        settings.schedule(settings.payout_max_attempts),
        settings.transfer_lease,
        settings.worker_batch_size,
        settings.transfer_poll_delay,
    )
    refund_worker = TransferWorker(
        Refund,
        "refund",
        deps,
        settings.schedule(settings.refund_max_attempts),
        settings.transfer_lease,
        settings.worker_batch_size,
        settings.transfer_poll_delay,
    )
    inquiries = InquiryWorker(deps, settings.payment_inquiry_batch_size)
    return [
        worker(payout_worker.run_once, "payouts", deps.payouts_due),
        scheduled(
            inquiries.run_once,
            "payment inquiries",
            clock=service.clock,
            max_idle=settings.payment_inquiry_every,
        ),
        worker(refund_worker.run_once, "refunds", deps.refunds_due),
        every(
            partial(views.refresh_wallet_gauge, deps.db),
            timedelta(seconds=settings.metrics_refresh_s),
            "wallet gauge",
            clock=service.clock,
        ),
    ]
