"""The Escrow aggregate (secure payment, پرداخت امن): its life from request to its end (DESIGN §3).

Money movements live in holding.py (payment, release, refund) and freezing.py (dispute, verdict),
the system's timers in deadlines.py; this module adds the steps around them: creation, accepting
or declining a request, cancelling, delivery and changes. Every command checks its actor first,
then the state, and changes nothing unless every guard passed.
"""

from dataclasses import dataclass
from datetime import datetime

from .actors import Actor, check_is_contractor, check_is_employer, check_is_party
from .deadlines import EscrowDeadlines
from .events import (
    CancelCause,
    ChangesRequested,
    EscrowCancelled,
    EscrowCreated,
    EscrowDeclined,
    EscrowRequestAccepted,
    EscrowRequested,
    WorkDelivered,
)
from .freezing import EscrowFreezing
from .states import EscrowKind, EscrowState
from .timers import TimerPolicy, check_aware


@dataclass(frozen=True)
class EscrowTerms:
    """What a new escrow is about; the contract fills in its parties and currency."""

    escrow_id: str
    contract_id: str
    employer_id: str
    contractor_id: str
    kind: EscrowKind
    currency: str
    amount: int
    description: str = ""


class Escrow(EscrowDeadlines, EscrowFreezing):
    @classmethod
    def _begin(cls, terms: EscrowTerms, state: EscrowState, now: datetime) -> "Escrow":
        return cls(**vars(terms), state=state, created_at=check_aware(now), updated_at=now)

    @classmethod
    def created_by_employer(
        cls, terms: EscrowTerms, now: datetime, policy: TimerPolicy
    ) -> "Escrow":
        escrow = cls._begin(terms, EscrowState.AWAITING_PAYMENT, now)
        escrow.payment_due_at = now + policy.payment_expiry
        escrow.events.append(EscrowCreated(escrow.snapshot()))
        return escrow

    @classmethod
    def requested_by_contractor(cls, terms: EscrowTerms, now: datetime) -> "Escrow":
        escrow = cls._begin(terms, EscrowState.REQUESTED, now)
        escrow.events.append(EscrowRequested(escrow.snapshot()))
        return escrow

    def accept_request(self, actor: Actor, now: datetime, policy: TimerPolicy) -> None:
        check_aware(now)
        check_is_employer(actor, self.employer_id, "accept an escrow request")
        self._check_state({EscrowState.REQUESTED}, "accept the request")
        self.state, self.payment_due_at = EscrowState.AWAITING_PAYMENT, now + policy.payment_expiry
        self.events.append(EscrowRequestAccepted(self._changed(now)))

    def decline_request(self, actor: Actor, now: datetime, reason: str = "") -> None:
        check_aware(now)
        check_is_employer(actor, self.employer_id, "decline an escrow request")
        self._check_state({EscrowState.REQUESTED}, "decline the request")
        self.state = EscrowState.DECLINED
        self.events.append(EscrowDeclined(self._changed(now), reason))

    def cancel(self, actor: Actor, now: datetime, reason: str = "") -> None:
        """The contractor withdraws his request, or the employer cancels before paying."""
        check_aware(now)
        check_is_party(actor, self.employer_id, self.contractor_id, "cancel an escrow")
        self._check_state({EscrowState.REQUESTED, EscrowState.AWAITING_PAYMENT}, "cancel")
        if self.state == EscrowState.REQUESTED:
            check_is_contractor(actor, self.contractor_id, "cancel a requested escrow")
        else:
            check_is_employer(actor, self.employer_id, "cancel an escrow awaiting payment")
        cause: CancelCause = "contractor" if self.state == EscrowState.REQUESTED else "employer"
        self.state = EscrowState.CANCELLED
        self.events.append(EscrowCancelled(self._changed(now), cause, reason))

    def deliver(self, actor: Actor, now: datetime, note: str = "") -> None:
        check_aware(now)
        check_is_contractor(actor, self.contractor_id, "mark work delivered")
        self._check_state({EscrowState.FUNDED}, "deliver")
        self.state, self.delivered_at, self.last_reminded_at = EscrowState.DELIVERED, now, None
        self.events.append(WorkDelivered(self._changed(now), note))

    def request_changes(self, actor: Actor, now: datetime, note: str = "") -> None:
        # Back to work: the delivery no longer stands, so its reminders and auto-release stop
        # until the next delivery starts them again.
        check_aware(now)
        check_is_employer(actor, self.employer_id, "request changes")
        self._check_state({EscrowState.DELIVERED}, "request changes")
        self.state, self.delivered_at = EscrowState.FUNDED, None
        self.events.append(ChangesRequested(self._changed(now), note))
