"""What the escrow service does when other services speak: payments fund, disputes freeze,
withdrawals unfreeze, verdicts settle.

Refusals here are answers, not errors: a payment that cannot fund its escrow gets
`funding-rejected` (the payments service refunds it), a dispute that cannot freeze it gets
`escrow-dispute-rejected`. A method returning False is a redelivery and changes nothing.
"""

from __future__ import annotations

import logging

from shared.contract import disputes as disputes_wire
from shared.contract import escrow as wire
from shared.contract.payments import PaymentPurpose, PaymentReceived

from escrow import domain, metrics
from escrow.adapters.wire import snapshot
from escrow.service_layer.unit import EscrowUnit

log = logging.getLogger(__name__)


async def payment_received(event: PaymentReceived, unit: EscrowUnit) -> None:
    if event.purpose is not PaymentPurpose.ESCROW or not event.escrow_id:
        return  # a direct payment: credited by the payments service, nothing is held here
    escrow = await unit.repo.get(event.escrow_id)
    try:
        if escrow is None:
            raise domain.NotFound(f"escrow {event.escrow_id} does not exist")
        funded = escrow.receive_payment(
            event.payment_id, event.payer_id, event.amount, event.currency, unit.now
        )
        if funded:
            await unit.save(escrow)
    except domain.EscrowRefusal as refusal:
        reason = refusal.reason_code
        unit.ctx.emit(
            wire.FundingRejected(
                payment_id=event.payment_id,
                escrow_id=event.escrow_id,
                amount=event.amount,
                currency=event.currency,
                reason_code=reason,
                message=str(refusal),
            )
        )
        unit.ctx.after_commit(lambda: metrics.FUNDING_REJECTED.labels(reason).inc())


async def dispute_opened(event: disputes_wire.DisputeOpened, unit: EscrowUnit) -> None:
    escrow = await unit.repo.get(event.escrow_id)
    try:
        if escrow is None:
            raise domain.NotFound(f"escrow {event.escrow_id} does not exist")
        if escrow.open_dispute(event.dispute_id, unit.now):
            await unit.save(escrow)
    except domain.EscrowRefusal as refusal:
        unit.ctx.emit(
            wire.EscrowDisputeRejected(
                dispute_id=event.dispute_id,
                escrow_id=event.escrow_id,
                reason_code=refusal.reason_code,
                message=str(refusal),
                escrow=snapshot(escrow) if escrow else None,
            )
        )


async def dispute_withdrawn(event: disputes_wire.DisputeWithdrawn, unit: EscrowUnit) -> None:
    escrow = await unit.repo.get(event.escrow_id)
    if escrow is None or escrow.dispute_id != event.dispute_id:
        log.warning("ignoring withdrawal of %s: not the dispute of its escrow", event.dispute_id)
        return
    try:
        escrow.withdraw_dispute(event.dispute_id, unit.now)
    except domain.InvalidState:
        return  # already unfrozen: a redelivery or a late message
    await unit.save(escrow)


async def verdict_issued(event: disputes_wire.VerdictIssued, unit: EscrowUnit) -> None:
    """Settle as the verdict says. One that cannot settle (the sum does not match what is held)
    raises: after its retries it is dead-lettered, for an operator to look at — never guessed."""
    escrow = await unit.escrow(event.escrow_id)
    settled = escrow.settle(
        event.dispute_id,
        contractor_amount=event.contractor_amount,
        employer_amount=event.employer_amount,
        currency=event.currency,
        now=unit.now,
        fees=unit.rules.fees,
        verdict_kind=event.kind.value,
    )
    if settled:
        await unit.save(escrow)
