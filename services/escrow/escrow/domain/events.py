"""What happened to a contract or an escrow: the domain events its aggregate records.

Every escrow event carries the whole snapshot after the change (DESIGN §3), so the service can
publish it as is and a consumer keeps the snapshot with the highest `version`. Refusals are not
events: a dispute that cannot freeze the escrow raises DisputeRefused and a payment that cannot
fund it raises FundingRefused; the service publishes EscrowDisputeRejected / FundingRejected.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .snapshot import EscrowSnapshot


@dataclass(frozen=True)
class ContractOpened:
    contract_id: str
    employer_id: str
    contractor_id: str
    currency: str
    agreed_amount: int | None
    title: str
    opened_at: datetime


@dataclass(frozen=True)
class EscrowEvent:
    escrow: EscrowSnapshot


@dataclass(frozen=True)
class EscrowCreated(EscrowEvent):
    """The employer created a secure payment; it awaits his payment."""


@dataclass(frozen=True)
class EscrowRequested(EscrowEvent):
    """The contractor asked the employer for a secure payment."""


@dataclass(frozen=True)
class EscrowRequestAccepted(EscrowEvent):
    pass


@dataclass(frozen=True)
class EscrowDeclined(EscrowEvent):
    reason: str = ""


CancelCause = Literal["employer", "contractor", "payment_expired"]


@dataclass(frozen=True)
class EscrowCancelled(EscrowEvent):
    cause: CancelCause
    reason: str = ""


@dataclass(frozen=True)
class EscrowFunded(EscrowEvent):
    payment_id: str
    amount: int


@dataclass(frozen=True)
class WorkDelivered(EscrowEvent):
    note: str = ""


@dataclass(frozen=True)
class ChangesRequested(EscrowEvent):
    note: str = ""


@dataclass(frozen=True)
class EscrowReleased(EscrowEvent):
    """`gross` left the escrow: `net` to the contractor, `fee` to the platform."""

    gross: int
    fee: int
    net: int
    automatic: bool = False


@dataclass(frozen=True)
class EscrowRefunded(EscrowEvent):
    amount: int


@dataclass(frozen=True)
class EscrowDisputed(EscrowEvent):
    dispute_id: str


@dataclass(frozen=True)
class EscrowUnfrozen(EscrowEvent):
    """A withdrawn dispute returned the escrow to the state it had before."""

    dispute_id: str


@dataclass(frozen=True)
class EscrowSettled(EscrowEvent):
    """A verdict split what was held; the fee comes out of the contractor's share only."""

    dispute_id: str
    verdict_kind: str
    contractor_amount: int
    fee: int
    contractor_net: int
    employer_amount: int


@dataclass(frozen=True)
class ReleaseReminderDue(EscrowEvent):
    delivered_at: datetime
    next_reminder_at: datetime
