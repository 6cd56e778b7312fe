"""Who is who in a public event: the employer, the contractor and the arbiter it names.

Escrow events carry the snapshot; dispute events name all three; a payment's payer is told as
the employer and its payee (direct payments) as the contractor; a payout belongs to the
contractor who asked for it, a refund to the employer whose payment it returns.
"""

from __future__ import annotations

from shared.contract.base import Event, Role
from shared.contract.disputes import (
    DisputeDeadlineDue,
    DisputeEvent,
    DisputeOpened,
    SettlementProposed,
    StatementSubmitted,
)
from shared.contract.escrow import ContractOpened, EscrowEvent
from shared.contract.payments import (
    PaymentFailed,
    PaymentReceived,
    PaymentStarted,
    PayoutCompleted,
    PayoutFailed,
    RefundCompleted,
    RefundFailed,
)

PAYMENT_EVENTS = (PaymentStarted, PaymentReceived, PaymentFailed)
PAYOUT_EVENTS = (PayoutCompleted, PayoutFailed)
REFUND_EVENTS = (RefundCompleted, RefundFailed)


def parties(event: Event) -> dict[Role, str]:
    """The people an event names, by their role in it."""
    found: dict[Role, str | None] = {}
    if isinstance(event, EscrowEvent):
        found = {
            Role.EMPLOYER: event.escrow.employer_id,
            Role.CONTRACTOR: event.escrow.contractor_id,
        }
    elif isinstance(event, DisputeEvent):
        found = {
            Role.EMPLOYER: event.employer_id,
            Role.CONTRACTOR: event.contractor_id,
            Role.ARBITER: event.arbiter_id,
        }
    elif isinstance(event, ContractOpened):
        found = {Role.EMPLOYER: event.employer_id, Role.CONTRACTOR: event.contractor_id}
    elif isinstance(event, PAYMENT_EVENTS):
        found = {Role.EMPLOYER: event.payer_id, Role.CONTRACTOR: event.payee_id}
    elif isinstance(event, PAYOUT_EVENTS):
        found = {Role.CONTRACTOR: event.user_id}
    elif isinstance(event, REFUND_EVENTS):
        found = {Role.EMPLOYER: event.employer_id}
    return {role: user_id for role, user_id in found.items() if user_id}


def author(event: Event) -> str | None:
    """Who did what the event reports: they need not be told their own step."""
    if isinstance(event, DisputeOpened):
        return event.opened_by
    if isinstance(event, StatementSubmitted | SettlementProposed):
        return event.by
    return None


def addressed(event: Event, role: Role, user_id: str) -> bool:
    """A deadline that names its party concerns only that party (by role or by user id)."""
    if not isinstance(event, DisputeDeadlineDue) or not event.party:
        return True
    return event.party in (role.value, user_id)
