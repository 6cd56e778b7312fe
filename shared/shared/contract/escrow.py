"""The escrow context's wire contract: contracts, secure payments (escrows) and their events.

Every escrow event carries the whole `EscrowSnapshot`; its `version` grows by one per change, so a
consumer keeps the snapshot with the highest version and ignores older ones (DESIGN.md §3).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime

from shared.contract.base import Amount, Command, Currency, Event, Identifier, Share, Text

CONTEXT = "escrow"


class EscrowKind(StrEnum):
    AGREED = "agreed"
    INSTANT = "instant"


class EscrowState(StrEnum):
    REQUESTED = "requested"
    AWAITING_PAYMENT = "awaiting_payment"
    FUNDED = "funded"
    DELIVERED = "delivered"
    DISPUTED = "disputed"
    RELEASED = "released"
    REFUNDED = "refunded"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    DECLINED = "declined"


TERMINAL_STATES = frozenset(
    {
        EscrowState.RELEASED,
        EscrowState.REFUNDED,
        EscrowState.SETTLED,
        EscrowState.CANCELLED,
        EscrowState.DECLINED,
    }
)


class EscrowSnapshot(Event):
    """The whole escrow as it stands after a change."""

    escrow_id: str
    contract_id: str
    employer_id: str
    contractor_id: str
    kind: EscrowKind
    currency: str
    amount: int
    state: EscrowState
    state_before_dispute: EscrowState | None = None
    held: int = 0
    funded_amount: int = 0
    released_amount: int = 0
    refunded_amount: int = 0
    fees_charged: int = 0
    payment_id: str | None = None
    dispute_id: str | None = None
    description: str = ""
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    payment_due_at: datetime | None = None
    version: int


# --- commands -------------------------------------------------------------------------------


class OpenContract(Command):
    """The employer opens a contract; `agreed_amount` bounds the sum of its agreed escrows."""

    TYPE: ClassVar[str] = "escrow.OpenContract.v1"
    TOPIC: ClassVar[str] = "escrow-commands"

    contract_id: Identifier
    contractor_id: Identifier
    currency: Currency
    agreed_amount: Amount | None = None
    title: Text = ""

    def kafka_key(self) -> str:
        return self.contract_id


class _EscrowCommand(Command):
    TOPIC: ClassVar[str] = "escrow-commands"

    escrow_id: Identifier

    def kafka_key(self) -> str:
        return self.escrow_id


class CreateEscrow(_EscrowCommand):
    """The employer creates a secure payment; it then awaits his payment."""

    TYPE: ClassVar[str] = "escrow.CreateEscrow.v1"

    contract_id: Identifier
    kind: EscrowKind
    amount: Amount
    description: Text = ""


class RequestEscrow(_EscrowCommand):
    """The contractor asks the employer for a secure payment of part or all of the price."""

    TYPE: ClassVar[str] = "escrow.RequestEscrow.v1"

    contract_id: Identifier
    kind: EscrowKind
    amount: Amount
    description: Text = ""


class AcceptEscrowRequest(_EscrowCommand):
    TYPE: ClassVar[str] = "escrow.AcceptEscrowRequest.v1"


class DeclineEscrowRequest(_EscrowCommand):
    TYPE: ClassVar[str] = "escrow.DeclineEscrowRequest.v1"

    reason: Text = ""


class CancelEscrow(_EscrowCommand):
    TYPE: ClassVar[str] = "escrow.CancelEscrow.v1"

    reason: Text = ""


class DeliverWork(_EscrowCommand):
    TYPE: ClassVar[str] = "escrow.DeliverWork.v1"

    note: Text = ""


class RequestChanges(_EscrowCommand):
    TYPE: ClassVar[str] = "escrow.RequestChanges.v1"

    note: Text = ""


class ReleaseEscrow(_EscrowCommand):
    """The employer releases `amount` (default: all that is held) to the contractor."""

    TYPE: ClassVar[str] = "escrow.ReleaseEscrow.v1"

    amount: Amount | None = None


class RefundEscrow(_EscrowCommand):
    """The contractor gives `amount` (default: all that is held) back to the employer."""

    TYPE: ClassVar[str] = "escrow.RefundEscrow.v1"

    amount: Amount | None = None


COMMANDS: tuple[type[Command], ...] = (
    OpenContract,
    CreateEscrow,
    RequestEscrow,
    AcceptEscrowRequest,
    DeclineEscrowRequest,
    CancelEscrow,
    DeliverWork,
    RequestChanges,
    ReleaseEscrow,
    RefundEscrow,
)


# --- events ---------------------------------------------------------------------------------


class ContractOpened(Event):
    TYPE: ClassVar[str] = "escrow.ContractOpened.v1"
    TOPIC: ClassVar[str] = "contract-opened"

    contract_id: str
    employer_id: str
    contractor_id: str
    currency: str
    agreed_amount: int | None = None
    title: str = ""

    def kafka_key(self) -> str:
        return self.contract_id


class EscrowEvent(Event):
    """An event about one escrow, with its snapshot after the change."""

    escrow: EscrowSnapshot

    def kafka_key(self) -> str:
        return self.escrow.escrow_id


class EscrowRequested(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.EscrowRequested.v1"
    TOPIC: ClassVar[str] = "escrow-requested"


class EscrowCreated(EscrowEvent):
    """The employer created a secure payment; it awaits his payment."""

    TYPE: ClassVar[str] = "escrow.EscrowCreated.v1"
    TOPIC: ClassVar[str] = "escrow-created"


class EscrowRequestAccepted(EscrowEvent):
    """The employer accepted the contractor's request; the escrow awaits his payment."""

    TYPE: ClassVar[str] = "escrow.EscrowRequestAccepted.v1"
    TOPIC: ClassVar[str] = "escrow-request-accepted"


class EscrowDeclined(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.EscrowDeclined.v1"
    TOPIC: ClassVar[str] = "escrow-declined"

    reason: str = ""


class EscrowCancelled(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.EscrowCancelled.v1"
    TOPIC: ClassVar[str] = "escrow-cancelled"

    cause: Literal["employer", "contractor", "payment_expired"]
    reason: str = ""


class EscrowFunded(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.EscrowFunded.v1"
    TOPIC: ClassVar[str] = "escrow-funded"

    payment_id: str
    amount: int


class FundingRejected(Event):
    """A payment that cannot fund its escrow; the payments service refunds it in full."""

    TYPE: ClassVar[str] = "escrow.FundingRejected.v1"
    TOPIC: ClassVar[str] = "funding-rejected"

    payment_id: str
    escrow_id: str
    amount: int
    currency: str
    reason_code: str
    message: str = ""

    def kafka_key(self) -> str:
        return self.escrow_id


class WorkDelivered(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.WorkDelivered.v1"
    TOPIC: ClassVar[str] = "work-delivered"

    note: str = ""


class ChangesRequested(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.ChangesRequested.v1"
    TOPIC: ClassVar[str] = "changes-requested"

    note: str = ""


class EscrowReleased(EscrowEvent):
    """`gross` left the escrow: `net` to the contractor's wallet, `fee` to the platform."""

    TYPE: ClassVar[str] = "escrow.EscrowReleased.v1"
    TOPIC: ClassVar[str] = "escrow-released"

    gross: int
    fee: int
    net: int
    automatic: bool = False


class EscrowRefunded(EscrowEvent):
    """`amount` goes back to the employer's original payment."""

    TYPE: ClassVar[str] = "escrow.EscrowRefunded.v1"
    TOPIC: ClassVar[str] = "escrow-refunded"

    amount: int


class EscrowDisputed(EscrowEvent):
    TYPE: ClassVar[str] = "escrow.EscrowDisputed.v1"
    TOPIC: ClassVar[str] = "escrow-disputed"

    dispute_id: str


class EscrowDisputeRejected(Event):
    """The escrow could not be frozen for a dispute (already released, refunded, …)."""

    TYPE: ClassVar[str] = "escrow.EscrowDisputeRejected.v1"
    TOPIC: ClassVar[str] = "escrow-dispute-rejected"

    dispute_id: str
    escrow_id: str
    reason_code: str
    message: str = ""
    escrow: EscrowSnapshot | None = None

    def kafka_key(self) -> str:
        return self.escrow_id


class EscrowUnfrozen(EscrowEvent):
    """A withdrawn dispute returned the escrow to the state it had before."""

    TYPE: ClassVar[str] = "escrow.EscrowUnfrozen.v1"
    TOPIC: ClassVar[str] = "escrow-unfrozen"

    dispute_id: str


class EscrowSettled(EscrowEvent):
    """A verdict split what was held; the fee is taken from the contractor's share only."""

    TYPE: ClassVar[str] = "escrow.EscrowSettled.v1"
    TOPIC: ClassVar[str] = "escrow-settled"

    dispute_id: str
    verdict_kind: str
    contractor_amount: Share
    fee: int
    contractor_net: int
    employer_amount: Share


class ReleaseReminderDue(EscrowEvent):
    """Delivered work still waits for the employer's release."""

    TYPE: ClassVar[str] = "escrow.ReleaseReminderDue.v1"
    TOPIC: ClassVar[str] = "release-reminder-due"

    delivered_at: AwareDatetime


EVENTS: tuple[type[Event], ...] = (
    ContractOpened,
    EscrowRequested,
    EscrowCreated,
    EscrowRequestAccepted,
    EscrowDeclined,
    EscrowCancelled,
    EscrowFunded,
    FundingRejected,
    WorkDelivered,
    ChangesRequested,
    EscrowReleased,
    EscrowRefunded,
    EscrowDisputed,
    EscrowDisputeRejected,
    EscrowUnfrozen,
    EscrowSettled,
    ReleaseReminderDue,
)
