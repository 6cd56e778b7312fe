"""Funding: `StartPayment` opens a session at the gateway; the gateway's callback, once verified
with the gateway itself, records the payment as received or failed (DESIGN §4)."""

from __future__ import annotations

import logging

from shared.contract.payments import StartPayment
from shared.messaging.outbox import stage
from shared.messaging.runtime import HandlerContext, outgoing

from payments import metrics
from payments.adapters.gateways.port import Gateway, IncomingCallback
from payments.adapters.repository import Repository
from payments.domain.errors import (
    AlreadyExists,
    GatewayRefused,
    UnknownPayment,
    UnsupportedCurrency,
)
from payments.domain.gateway import GatewayError, PaymentRequest, UnsupportedByGateway
from payments.domain.money import check_currency
from payments.domain.payment import Payment, PaymentStatus
from payments.service_layer.causation import follow, followed
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post

log = logging.getLogger(__name__)


async def start_payment(command: StartPayment, ctx: HandlerContext, deps: Dependencies) -> str:
    repo = Repository(ctx.session)
    if await repo.get_payment(command.payment_id) is not None:
        raise AlreadyExists(f"payment {command.payment_id} already exists")
    currency = check_currency(command.currency, deps.settings.accepted_currencies)
    gateway = deps.gateways.for_payment(currency)
    if gateway is None:
        raise UnsupportedCurrency(f"no gateway takes {currency} payments here")
    payment = Payment.start(command, gateway.name, deps.settings.accepted_currencies)
    try:
        session = await gateway.open_payment(
            PaymentRequest(
                payment_id=payment.payment_id,
                amount=payment.amount,
                currency=payment.currency,
                description=payment.description,
                callback_url=deps.settings.callback_url(gateway.name),
            )
        )
    except UnsupportedByGateway as exc:
        raise UnsupportedCurrency(str(exc)) from exc
    except GatewayError as exc:
        raise GatewayRefused(str(exc)) from exc
    payment.opened(session, inquire_at=ctx.clock.now() + deps.settings.payment_inquiry_after)
    follow(payment, ctx.cause)
    await repo.add_payment(payment)
    for event in payment.events:
        ctx.emit(event)
    metrics.count("payment", "started", payment.currency, payment.amount)
    return payment.payment_id


async def record_callback(
    gateway: Gateway, callback: IncomingCallback, deps: Dependencies
) -> Payment:
    """Verify a callback with the gateway, then record its outcome once.

    Raises `CallbackRejected` (forged, unknown, mismatched: nothing is recorded) or
    `GatewayError` (the gateway could not confirm now; the callback may be repeated).
    """
    claim = gateway.read_callback(callback)
    async with deps.db.transaction() as session:
        payment = await Repository(session).payment_by_token(gateway.name, claim.token)
    if payment is None:
        raise UnknownPayment(f"no {gateway.name} payment with session {claim.token}")
    payment.check_claim(claim)
    if payment.settled:
        return payment  # a repeated callback changes nothing
    assert payment.session_token is not None
    verification = await gateway.verify(payment.session_token, payment.amount, payment.currency)
    async with deps.db.transaction() as session:
        repo = Repository(session)
        locked = await repo.get_payment(payment.payment_id, lock=True)
        assert locked is not None
        for transaction in locked.settle(verification, claim):
            await post(repo, transaction, deps.clock.now())
        if locked.events:
            await repo.save_payment(locked)
            cause = followed(locked)
            await stage(
                session, [outgoing(e, signer=deps.signer, cause=cause) for e in locked.events]
            )
    if locked.events:
        deps.nudge()
        metrics.count("payment", locked.status.value, locked.currency, locked.amount)
        log.info("payment %s %s at %s", locked.payment_id, locked.status, gateway.name)
    return locked


def describe(payment: Payment) -> dict[str, object]:
    """What the callback route answers (the gateway, or the payer's browser, reads it)."""
    return {
        "payment_id": payment.payment_id,
        "status": payment.status.value,
        "received": payment.status is PaymentStatus.RECEIVED,
    }
