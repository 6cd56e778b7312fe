"""The states of a dispute.

pending -> negotiation -> arbitration -> closed; pending -> rejected when the escrow could not be
frozen; pending, negotiation or arbitration -> withdrawn by the opener before a verdict.
"""

from typing import Final

PENDING: Final = "pending"  # waiting for the escrow service to freeze the escrow
NEGOTIATION: Final = "negotiation"
ARBITRATION: Final = "arbitration"
CLOSED: Final = "closed"  # the verdict was settled by the escrow service
REJECTED: Final = "rejected"
WITHDRAWN: Final = "withdrawn"

# Open disputes hold the escrow frozen; an escrow has at most one at a time.
OPEN_STATES: Final = frozenset({PENDING, NEGOTIATION, ARBITRATION})
