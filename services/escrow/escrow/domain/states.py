"""The states of an escrow and which of them hold money (DESIGN §3).

requested -> awaiting_payment -> funded <-> delivered -> released | refunded | settled;
cancelled and declined end an escrow before any money arrived; disputed freezes held money.
"""

from enum import StrEnum
from typing import Final


class EscrowKind(StrEnum):
    AGREED = "agreed"  # counts against the contract's agreed price
    INSTANT = "instant"  # an ad-hoc secure payment of any amount


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


TERMINAL_STATES: Final = frozenset(
    {
        EscrowState.RELEASED,
        EscrowState.REFUNDED,
        EscrowState.SETTLED,
        EscrowState.CANCELLED,
        EscrowState.DECLINED,
    }
)

# States whose held money the parties may move (release, refund) or put in dispute.
WORKING_STATES: Final = frozenset({EscrowState.FUNDED, EscrowState.DELIVERED})

# States in which an escrow holds money; in every other state it holds nothing.
HOLDING_STATES: Final = WORKING_STATES | {EscrowState.DISPUTED}

# An agreed escrow stops counting against the agreed price only if no money was ever asked for.
NOT_COUNTED_STATES: Final = frozenset({EscrowState.CANCELLED, EscrowState.DECLINED})
