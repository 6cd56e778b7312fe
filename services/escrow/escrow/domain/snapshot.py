"""The escrow snapshot: the whole escrow as every escrow event carries it (DESIGN §3, §7)."""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .states import EscrowKind, EscrowState


@dataclass(frozen=True)
class EscrowSnapshot:
    """The whole escrow as it stands after a change; fields match the wire EscrowSnapshot."""

    escrow_id: str
    contract_id: str
    employer_id: str
    contractor_id: str
    kind: EscrowKind
    currency: str
    amount: int
    state: EscrowState
    state_before_dispute: EscrowState | None
    held: int
    funded_amount: int
    released_amount: int  # gross, before the fee
    refunded_amount: int
    fees_charged: int
    payment_id: str | None
    dispute_id: str | None
    description: str
    created_at: datetime
    updated_at: datetime
    version: int
    delivered_at: datetime | None
    payment_due_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
