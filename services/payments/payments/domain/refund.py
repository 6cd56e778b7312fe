"""A refund of (part of) an employer's original payment, back through a gateway.

The money waits in `refunds-in-flight` from the moment the escrow gave it back (or the funding was
rejected) until the gateway confirms the refund. It is never dropped: after its automatic retries
the refund is `failed` and announced, the money stays in flight, and an operator's `RetryRefund`
puts it back in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.contract.base import Event
from shared.contract.payments import RefundCompleted, RefundFailed

from payments.domain import ledger
from payments.domain.errors import InvalidState
from payments.domain.transfer import OutgoingTransfer, TransferStatus

RefundCause = Literal["escrow_refunded", "escrow_settled", "funding_rejected"]


@dataclass(kw_only=True)
class Refund(OutgoingTransfer):
    refund_id: str
    payment_id: str
    employer_id: str
    amount: int
    currency: str
    cause: RefundCause
    escrow_id: str | None = None
    #: the original payment at its gateway, which the refund goes back to
    payment_gateway: str
    payment_token: str
    #: the original payment's reference at its gateway (Zarinpal's ref_id, a PaymentIntent)
    payment_reference: str | None = None

    @property
    def transfer_id(self) -> str:
        return self.refund_id

    def retry_by_operator(self, now: datetime) -> None:
        if self.status is not TransferStatus.FAILED:
            raise InvalidState(f"refund {self.refund_id} is {self.status}, not failed")
        self.status = TransferStatus.PENDING
        self.attempts = 0
        self.polls = 0
        self.next_attempt_at = now

    def _may_give_up(self, definitive: bool) -> bool:
        # Giving up moves no money (it stays in flight), so it is safe whatever the outcome.
        return True

    def _completed_event(self) -> Event:
        return RefundCompleted(**self._identity(), reference=self.reference or "")

    def _failed_event(self) -> Event:
        return RefundFailed(
            **self._identity(), reason=self.last_error or "declined", attempts=self.attempts
        )

    def _completed_transaction(self) -> ledger.Transaction:
        return ledger.transaction(
            f"refund:{self.refund_id}:completed",
            ledger.TransactionKind.REFUND_COMPLETED,
            self.currency,
            *ledger.moves(
                ledger.REFUNDS_IN_FLIGHT, self.amount, (ledger.GATEWAY_CLEARING, self.amount)
            ),
        )

    def _failed_transaction(self) -> ledger.Transaction | None:
        return None

    def _identity(self) -> dict[str, object]:
        return {
            "refund_id": self.refund_id,
            "payment_id": self.payment_id,
            "employer_id": self.employer_id,
            "amount": self.amount,
            "currency": self.currency,
            "cause": self.cause,
            "escrow_id": self.escrow_id,
        }
