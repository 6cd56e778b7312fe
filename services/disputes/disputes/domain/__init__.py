"""The disputes domain: the Dispute aggregate, its events, refusals and deadlines (pure, no I/O)."""

from .actors import ADMIN, ARBITER, CONTRACTOR, EMPLOYER, SYSTEM, SYSTEM_ACTOR, Actor
from .deadline_policy import (
    ARBITRATION_SLA_REMINDER,
    NEGOTIATION_WINDOW_END,
    RESPONDENT_DEADLINE,
    RESPONDENT_REMINDER,
    DeadlinePolicy,
    Timer,
)
from .dispute import REASONS, Dispute
from .errors import (
    DisputeAlreadyOpen,
    DisputeRefusal,
    Forbidden,
    InvalidAmount,
    InvalidState,
    Malformed,
    NotEscrowed,
    NotFound,
)
from .escrow import EscrowSnapshot
from .evidence import Evidence, Statement
from .settlement import BY_AGREEMENT, BY_ARBITER, Proposal, Verdict
from .states import ARBITRATION, CLOSED, NEGOTIATION, PENDING, REJECTED, WITHDRAWN
from .timeline import TimelineEntry

__all__ = [
    "ADMIN",
    "ARBITER",
    "ARBITRATION",
    "ARBITRATION_SLA_REMINDER",
    "BY_AGREEMENT",
    "BY_ARBITER",
    "CLOSED",
    "CONTRACTOR",
    "EMPLOYER",
    "NEGOTIATION",
    "NEGOTIATION_WINDOW_END",
    "PENDING",
    "REASONS",
    "REJECTED",
    "RESPONDENT_DEADLINE",
    "RESPONDENT_REMINDER",
    "SYSTEM",
    "SYSTEM_ACTOR",
    "WITHDRAWN",
    "Actor",
    "DeadlinePolicy",
    "Dispute",
    "DisputeAlreadyOpen",
    "DisputeRefusal",
    "EscrowSnapshot",
    "Evidence",
    "Forbidden",
    "InvalidAmount",
    "InvalidState",
    "Malformed",
    "NotEscrowed",
    "NotFound",
    "Proposal",
    "Statement",
    "TimelineEntry",
    "Timer",
    "Verdict",
]
