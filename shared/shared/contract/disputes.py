"""The disputes context's wire contract: arbitration (داوری) from opening to verdict."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.contract.base import Command, Event, Identifier, Share, Statement, Text

CONTEXT = "disputes"

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class DisputeReason(StrEnum):
    NOT_DELIVERED = "not_delivered"
    NOT_RELEASED = "not_released"
    QUALITY = "quality"
    OTHER = "other"


class VerdictKind(StrEnum):
    ARBITRATION = "arbitration"
    AGREEMENT = "agreement"


class Evidence(BaseModel):
    """A reference to a file kept elsewhere; the service stores its hash, never its bytes."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$")]
    sha256: Sha256
    uri: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class _DisputeCommand(Command):
    TOPIC: ClassVar[str] = "dispute-commands"

    dispute_id: Identifier

    def kafka_key(self) -> str:
        return self.dispute_id


class OpenDispute(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.OpenDispute.v1"

    escrow_id: Identifier
    reason: DisputeReason
    #: what the opener says happened: required, not blank (DESIGN.md §5)
    statement: Statement

    def kafka_key(self) -> str:
        return self.escrow_id


class SubmitStatement(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.SubmitStatement.v1"

    text: Statement
    evidence: list[Evidence] = []


class ProposeSettlement(_DisputeCommand):
    """A party proposes how much of what is held goes to the contractor; the rest is refunded."""

    TYPE: ClassVar[str] = "disputes.ProposeSettlement.v1"

    contractor_amount: Share


class AcceptSettlement(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.AcceptSettlement.v1"

    proposal_id: Identifier | None = None


class EscalateDispute(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.EscalateDispute.v1"


class AssignArbiter(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.AssignArbiter.v1"

    arbiter_id: Identifier


class IssueVerdict(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.IssueVerdict.v1"

    contractor_amount: Share
    employer_amount: Share
    rationale: Text = ""


class WithdrawDispute(_DisputeCommand):
    TYPE: ClassVar[str] = "disputes.WithdrawDispute.v1"


COMMANDS: tuple[type[Command], ...] = (
    OpenDispute,
    SubmitStatement,
    ProposeSettlement,
    AcceptSettlement,
    EscalateDispute,
    AssignArbiter,
    IssueVerdict,
    WithdrawDispute,
)


class DisputeEvent(Event):
    """An event about one dispute, keyed by its escrow so the escrow's messages stay in order."""

    dispute_id: str
    escrow_id: str
    employer_id: str
    contractor_id: str
    state: str
    version: int
    arbiter_id: str | None = None

    def kafka_key(self) -> str:
        return self.escrow_id


class DisputeOpened(DisputeEvent):
    """Asks the escrow service to freeze the escrow."""

    TYPE: ClassVar[str] = "disputes.DisputeOpened.v1"
    TOPIC: ClassVar[str] = "dispute-opened"

    opened_by: str
    opened_by_role: str
    reason: DisputeReason


class DisputeRejected(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.DisputeRejected.v1"
    TOPIC: ClassVar[str] = "dispute-rejected"

    reason_code: str
    message: str = ""


class DisputeWithdrawn(DisputeEvent):
    """Asks the escrow service to unfreeze the escrow."""

    TYPE: ClassVar[str] = "disputes.DisputeWithdrawn.v1"
    TOPIC: ClassVar[str] = "dispute-withdrawn"


class StatementSubmitted(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.StatementSubmitted.v1"
    TOPIC: ClassVar[str] = "statement-submitted"

    by: str
    evidence_count: int = 0


class SettlementProposed(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.SettlementProposed.v1"
    TOPIC: ClassVar[str] = "settlement-proposed"

    proposal_id: str
    by: str
    contractor_amount: int
    employer_amount: int
    currency: str


class DisputeEscalated(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.DisputeEscalated.v1"
    TOPIC: ClassVar[str] = "dispute-escalated"

    cause: str


class ArbiterAssigned(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.ArbiterAssigned.v1"
    TOPIC: ClassVar[str] = "arbiter-assigned"


class VerdictIssued(DisputeEvent):
    """Asks the escrow service to settle: the two shares add up to what is held, exactly."""

    TYPE: ClassVar[str] = "disputes.VerdictIssued.v1"
    TOPIC: ClassVar[str] = "verdict-issued"

    kind: VerdictKind
    contractor_amount: Share
    employer_amount: Share
    currency: str
    rationale: str = ""


class DisputeClosed(DisputeEvent):
    TYPE: ClassVar[str] = "disputes.DisputeClosed.v1"
    TOPIC: ClassVar[str] = "dispute-closed"


class DisputeDeadlineDue(DisputeEvent):
    """A deadline is near (`reminder`) or has passed (`missed`) for `party`."""

    TYPE: ClassVar[str] = "disputes.DisputeDeadlineDue.v1"
    TOPIC: ClassVar[str] = "dispute-deadline-due"

    deadline: str
    stage: str
    due_at: datetime
    party: str | None = None


EVENTS: tuple[type[Event], ...] = (
    DisputeOpened,
    DisputeRejected,
    DisputeWithdrawn,
    StatementSubmitted,
    SettlementProposed,
    DisputeEscalated,
    ArbiterAssigned,
    VerdictIssued,
    DisputeClosed,
    DisputeDeadlineDue,
)
