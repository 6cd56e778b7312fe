"""Domain events: what happened to a dispute, recorded by the aggregate in `dispute.events`.

The service layer drains them into the outbox and maps each to its wire type
(`disputes.<Name>.v1`). Every event names its dispute, its escrow (the Kafka key) and when.
"""

from dataclasses import dataclass
from datetime import datetime

from .evidence import Evidence


@dataclass(frozen=True, kw_only=True)
class DisputeEvent:
    dispute_id: str
    escrow_id: str
    at: datetime


@dataclass(frozen=True, kw_only=True)
class DisputeOpened(DisputeEvent):
    opened_by: str
    opener_role: str
    respondent_id: str
    employer_id: str
    contractor_id: str
    reason: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class DisputeEnteredNegotiation(DisputeEvent):
    held_amount: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class DisputeRejected(DisputeEvent):
    reason: str


@dataclass(frozen=True, kw_only=True)
class StatementSubmitted(DisputeEvent):
    statement_no: int
    author_id: str
    author_role: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, kw_only=True)
class SettlementProposed(DisputeEvent):
    proposal_no: int
    proposed_by: str
    proposer_role: str
    contractor_amount: int
    employer_amount: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class SettlementAccepted(DisputeEvent):
    proposal_no: int
    accepted_by: str
    contractor_amount: int
    employer_amount: int
    currency: str


@dataclass(frozen=True, kw_only=True)
class DisputeEscalated(DisputeEvent):
    by: str  # "party" or "system"
    cause: str  # "party_request", "respondent_deadline_missed", "negotiation_window_ended"
    requested_by: str | None  # the party's user id when by == "party"


@dataclass(frozen=True, kw_only=True)
class ArbiterAssigned(DisputeEvent):
    arbiter_id: str
    previous_arbiter_id: str | None
    assigned_by: str


@dataclass(frozen=True, kw_only=True)
class VerdictIssued(DisputeEvent):
    kind: str  # "agreement" or "arbitration"
    contractor_amount: int
    employer_amount: int
    currency: str
    arbiter_id: str | None  # None for an agreement between the parties


@dataclass(frozen=True, kw_only=True)
class DisputeWithdrawn(DisputeEvent):
    withdrawn_by: str
    withdrawn_from: str  # state before; "pending" means the escrow may not be frozen yet


@dataclass(frozen=True, kw_only=True)
class DisputeClosed(DisputeEvent):
    verdict_kind: str


@dataclass(frozen=True, kw_only=True)
class DeadlineReminderDue(DisputeEvent):
    timer: str
    remind_user_id: str | None  # None: no arbiter assigned yet, remind the admins
    deadline_at: datetime


@dataclass(frozen=True, kw_only=True)
class DeadlineMissed(DisputeEvent):
    timer: str
    missed_by: str
    deadline_at: datetime
