"""Which message a payment's, payout's or refund's later events follow from.

Those events are sent outside the handling of any message (a gateway's callback, an inquiry, a
transfer worker's round), so the runtime has no cause to give them; the row keeps the message it
was created by, and its events carry that message's id as `causationid` and its correlation as
`correlationid` (DESIGN.md §7): StartPayment → PaymentStarted → PaymentReceived → EscrowFunded,
RequestPayout → PayoutCompleted, ReleaseEscrow → … → RefundCompleted, one conversation each.
"""

from __future__ import annotations

from shared.contract.envelope import Cause, Followed

from payments.domain.payment import Payment
from payments.domain.transfer import OutgoingTransfer


def follow(row: Payment | OutgoingTransfer, cause: Cause | None) -> None:
    """Keep `cause` beside the row it created."""
    if cause is not None:
        row.caused_by = cause.id
        row.correlation_id = cause.correlationid or cause.id


def followed(row: Payment | OutgoingTransfer) -> Followed | None:
    """The message the row's events follow from; None for a row from before it was kept."""
    return Followed(row.caused_by, row.correlation_id) if row.caused_by else None
