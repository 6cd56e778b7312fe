"""What the disputes service knows about an escrow: the latest snapshot the escrow service sent.

The disputes service never reads the escrow database (DESIGN §9); it keeps the snapshot with the
highest version from escrow events and decides from it whether a dispute may be opened.
"""

from dataclasses import dataclass
from typing import Final

# Only money that is held and not yet promised can be disputed (DESIGN §3, §5).
DISPUTABLE_STATES: Final = frozenset({"funded", "delivered"})


@dataclass(frozen=True)
class EscrowSnapshot:
    escrow_id: str
    employer_id: str
    contractor_id: str
    state: str
    currency: str

    @property
    def is_disputable(self) -> bool:
        return self.state in DISPUTABLE_STATES
