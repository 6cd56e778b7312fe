"""The saga with the escrow service: what its events mean for this service's escrows and disputes.

Every escrow event with a snapshot refreshes the escrow view. `escrow-disputed` starts the
negotiation, `escrow-dispute-rejected` ends a pending dispute, `escrow-settled` closes one with a
verdict. Facts that come late or twice are refused by the domain (InvalidState) and ignored.
"""

from __future__ import annotations

import logging

from shared.contract import disputes as disputes_wire
from shared.contract import escrow as wire

from disputes import domain
from disputes.adapters import escrow_views
from disputes.adapters.wire import keys
from disputes.service_layer.unit import DisputeUnit

log = logging.getLogger(__name__)


async def escrow_changed(event: wire.EscrowEvent, unit: DisputeUnit) -> None:
    await escrow_views.remember(unit.session, event.escrow)


async def escrow_disputed(event: wire.EscrowDisputed, unit: DisputeUnit) -> None:
    await escrow_changed(event, unit)
    dispute = await _dispute(event.dispute_id, unit)
    if dispute is None:
        return
    if dispute.state == domain.WITHDRAWN and dispute.held_amount is None:
        # Withdrawn while pending: the withdrawal may have reached the escrow before the opening
        # did, so the escrow froze for a dispute that is gone. Ask it again to unfreeze.
        unit.ctx.emit(disputes_wire.DisputeWithdrawn(**keys(dispute)))
        return
    try:
        dispute.escrow_disputed(event.escrow.held, unit.now)
    except domain.InvalidState:
        return  # already negotiating: a redelivery
    await unit.save(dispute)


async def escrow_dispute_rejected(event: wire.EscrowDisputeRejected, unit: DisputeUnit) -> None:
    if event.escrow is not None:
        await escrow_views.remember(unit.session, event.escrow)
    dispute = await _dispute(event.dispute_id, unit)
    if dispute is None:
        return
    try:
        dispute.escrow_dispute_rejected(event.reason_code, unit.now)
    except domain.InvalidState:
        return  # withdrawn meanwhile, or a redelivery
    await unit.save(dispute, message=event.message)


async def escrow_settled(event: wire.EscrowSettled, unit: DisputeUnit) -> None:
    await escrow_changed(event, unit)
    dispute = await _dispute(event.dispute_id, unit)
    if dispute is None:
        return
    try:
        dispute.escrow_settled(unit.now)
    except domain.InvalidState:
        return  # already closed: a redelivery
    await unit.save(dispute)


async def _dispute(dispute_id: str, unit: DisputeUnit) -> domain.Dispute | None:
    found = await unit.repo.get(dispute_id)
    if found is None:
        log.warning("ignoring an escrow answer about unknown dispute %s", dispute_id)
    return found
