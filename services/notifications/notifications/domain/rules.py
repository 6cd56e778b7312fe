"""Who is told about which public event, and with which template: the one table of the service.

Read a row as "on <event>, tell the <role> with <template>". An event absent from `RULES` is in
`SILENT` with the reason nobody is told; a test keeps the two covering the whole contract.
A person is told once per event, even when named in two roles, and never about their own step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.contract import disputes as d
from shared.contract import escrow as e
from shared.contract import payments as p
from shared.contract.base import Event, Role

from notifications.domain.parties import addressed, author, parties

EMPLOYER, CONTRACTOR, ARBITER = Role.EMPLOYER, Role.CONTRACTOR, Role.ARBITER


class Kind(StrEnum):
    """The kind of message, as a contact's channel preferences name it."""

    ESCROW = "escrow"
    DISPUTE = "dispute"
    PAYMENT = "payment"


@dataclass(frozen=True)
class Rule:
    event: type[Event]
    tell: Role
    template: str


# fmt: off
RULES: tuple[Rule, ...] = (
    # --- the secure payment (escrow) ------------------------------------------------------
    Rule(e.ContractOpened,        CONTRACTOR, "contract_opened"),
    Rule(e.EscrowRequested,       EMPLOYER,   "escrow_requested"),
    Rule(e.EscrowCreated,         EMPLOYER,   "escrow_awaiting_payment"),
    Rule(e.EscrowCreated,         CONTRACTOR, "escrow_created"),
    Rule(e.EscrowRequestAccepted, EMPLOYER,   "escrow_awaiting_payment"),
    Rule(e.EscrowRequestAccepted, CONTRACTOR, "escrow_request_accepted"),
    Rule(e.EscrowDeclined,        CONTRACTOR, "escrow_declined"),
    Rule(e.EscrowCancelled,       EMPLOYER,   "escrow_cancelled"),
    Rule(e.EscrowCancelled,       CONTRACTOR, "escrow_cancelled"),
    Rule(e.EscrowFunded,          EMPLOYER,   "escrow_funded_employer"),
    Rule(e.EscrowFunded,          CONTRACTOR, "escrow_funded_contractor"),
    Rule(e.WorkDelivered,         EMPLOYER,   "work_delivered"),
    Rule(e.ChangesRequested,      CONTRACTOR, "changes_requested"),
    Rule(e.EscrowReleased,        CONTRACTOR, "escrow_released_contractor"),
    Rule(e.EscrowReleased,        EMPLOYER,   "escrow_released_employer"),
    Rule(e.EscrowRefunded,        EMPLOYER,   "escrow_refunded_employer"),
    Rule(e.EscrowRefunded,        CONTRACTOR, "escrow_refunded_contractor"),
    Rule(e.EscrowDisputed,        EMPLOYER,   "escrow_disputed"),
    Rule(e.EscrowDisputed,        CONTRACTOR, "escrow_disputed"),
    Rule(e.EscrowSettled,         EMPLOYER,   "escrow_settled_employer"),
    Rule(e.EscrowSettled,         CONTRACTOR, "escrow_settled_contractor"),
    Rule(e.ReleaseReminderDue,    EMPLOYER,   "release_reminder"),
    # --- arbitration (disputes) -----------------------------------------------------------
    Rule(d.DisputeRejected,       EMPLOYER,   "dispute_rejected"),
    Rule(d.DisputeRejected,       CONTRACTOR, "dispute_rejected"),
    Rule(d.DisputeWithdrawn,      EMPLOYER,   "dispute_withdrawn"),
    Rule(d.DisputeWithdrawn,      CONTRACTOR, "dispute_withdrawn"),
    Rule(d.DisputeWithdrawn,      ARBITER,    "dispute_withdrawn"),
    Rule(d.StatementSubmitted,    EMPLOYER,   "statement_submitted"),
    Rule(d.StatementSubmitted,    CONTRACTOR, "statement_submitted"),
    Rule(d.StatementSubmitted,    ARBITER,    "statement_submitted"),
    Rule(d.SettlementProposed,    EMPLOYER,   "settlement_proposed"),
    Rule(d.SettlementProposed,    CONTRACTOR, "settlement_proposed"),
    Rule(d.DisputeEscalated,      EMPLOYER,   "dispute_escalated"),
    Rule(d.DisputeEscalated,      CONTRACTOR, "dispute_escalated"),
    Rule(d.ArbiterAssigned,       ARBITER,    "arbiter_assigned"),
    Rule(d.ArbiterAssigned,       EMPLOYER,   "arbiter_assigned_party"),
    Rule(d.ArbiterAssigned,       CONTRACTOR, "arbiter_assigned_party"),
    Rule(d.VerdictIssued,         EMPLOYER,   "verdict_issued"),
    Rule(d.VerdictIssued,         CONTRACTOR, "verdict_issued"),
    Rule(d.DisputeDeadlineDue,    EMPLOYER,   "dispute_deadline"),
    Rule(d.DisputeDeadlineDue,    CONTRACTOR, "dispute_deadline"),
    Rule(d.DisputeDeadlineDue,    ARBITER,    "dispute_deadline"),
    # --- money in and out (payments) ------------------------------------------------------
    Rule(p.PaymentReceived,       EMPLOYER,   "payment_received"),
    Rule(p.PaymentReceived,       CONTRACTOR, "direct_payment_received"),
    Rule(p.PaymentFailed,         EMPLOYER,   "payment_failed"),
    Rule(p.PayoutCompleted,       CONTRACTOR, "payout_completed"),
    Rule(p.PayoutFailed,          CONTRACTOR, "payout_failed"),
    Rule(p.RefundCompleted,       EMPLOYER,   "refund_completed"),
    Rule(p.RefundFailed,          EMPLOYER,   "refund_failed"),
)
# fmt: on

#: public events nobody is told about, and why
SILENT: dict[type[Event], str] = {
    e.FundingRejected: "it names no person; the refund that follows tells the payer",
    e.EscrowDisputeRejected: "the disputes service's DisputeRejected tells both parties",
    e.EscrowUnfrozen: "DisputeWithdrawn tells the parties and the arbiter",
    d.DisputeOpened: "only a request to freeze; EscrowDisputed tells both once it holds",
    d.DisputeClosed: "EscrowSettled or DisputeWithdrawn has already told everyone",
    p.PaymentStarted: "the payer is at the gateway at that very moment",
}

_KIND_OF_CONTEXT = {e.CONTEXT: Kind.ESCROW, d.CONTEXT: Kind.DISPUTE, p.CONTEXT: Kind.PAYMENT}


@dataclass(frozen=True)
class Recipient:
    """One person to tell about one event."""

    user_id: str
    role: Role
    template: str
    kind: Kind


def kind_of(event: type[Event]) -> Kind:
    return _KIND_OF_CONTEXT[event.TYPE.split(".", 1)[0]]


def rules_for(event: type[Event]) -> list[Rule]:
    return [rule for rule in RULES if rule.event is event]


def recipients(event: Event) -> list[Recipient]:
    """Everyone to tell about `event`, each once, the event's author left out."""
    named, skip = parties(event), author(event)
    told: dict[str, Recipient] = {}
    for rule in rules_for(type(event)):
        user_id = named.get(rule.tell)
        if not user_id or user_id == skip or user_id in told:
            continue
        if addressed(event, rule.tell, user_id):
            told[user_id] = Recipient(user_id, rule.tell, rule.template, kind_of(type(event)))
    return list(told.values())
