"""The facts an escrow keeps, the balances derived from its ledger, and its snapshot.

`held`, and the funded/released/refunded totals, are computed from the escrow's transactions on
every read and never stored beside them, so no code path can update one and forget the other.
The fields of EscrowRecord are what the repository persists; `events` is what happened since load.
"""

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from . import ledger
from .errors import InvalidState
from .events import EscrowEvent
from .ledger import Entry, Transaction, TransactionKind
from .snapshot import EscrowSnapshot
from .states import EscrowKind, EscrowState
from .timers import Clocks, Timer, TimerPolicy


@dataclass(eq=False)
class EscrowRecord:
    escrow_id: str
    contract_id: str
    employer_id: str
    contractor_id: str
    kind: EscrowKind
    currency: str
    amount: int
    state: EscrowState
    created_at: datetime
    updated_at: datetime
    version: int = 1
    description: str = ""
    transactions: list[Transaction] = field(default_factory=list)
    payment_id: str | None = None
    dispute_id: str | None = None
    state_before_dispute: EscrowState | None = None
    delivered_at: datetime | None = None
    payment_due_at: datetime | None = None
    last_reminded_at: datetime | None = None
    events: list[EscrowEvent] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        # The repository may hand back plain strings from the database: keep the enums.
        self.kind, self.state = EscrowKind(self.kind), EscrowState(self.state)
        if self.state_before_dispute is not None:
            self.state_before_dispute = EscrowState(self.state_before_dispute)

    def _movement(self, kind: TransactionKind | None = None) -> int:
        return ledger.movement(self.transactions, ledger.escrow_account(self.escrow_id), kind)

    @property
    def held(self) -> int:
        return self._movement()

    @property
    def funded_amount(self) -> int:
        return self._movement(TransactionKind.FUNDING)

    @property
    def released_amount(self) -> int:
        """Gross amount released by the employer (or automatically), fees included."""
        return -self._movement(TransactionKind.RELEASE)

    @property
    def refunded_amount(self) -> int:
        return -self._movement(TransactionKind.REFUND)

    @property
    def settled_amount(self) -> int:
        """What a verdict handed out, both shares together."""
        return -self._movement(TransactionKind.SETTLEMENT)

    @property
    def fees_charged(self) -> int:
        return ledger.movement(self.transactions, ledger.PLATFORM_FEES)

    def timers(self, policy: TimerPolicy) -> list[Timer]:
        """The timers that apply to the escrow as it stands, with the moment each is due."""
        return self._clocks().due(policy)

    def _clocks(self) -> Clocks:
        return Clocks(self.state, self.payment_due_at, self.delivered_at, self.last_reminded_at)

    def snapshot(self) -> EscrowSnapshot:
        return EscrowSnapshot(
            escrow_id=self.escrow_id,
            contract_id=self.contract_id,
            employer_id=self.employer_id,
            contractor_id=self.contractor_id,
            kind=self.kind,
            currency=self.currency,
            amount=self.amount,
            state=self.state,
            state_before_dispute=self.state_before_dispute,
            held=self.held,
            funded_amount=self.funded_amount,
            released_amount=self.released_amount,
            refunded_amount=self.refunded_amount,
            fees_charged=self.fees_charged,
            payment_id=self.payment_id,
            dispute_id=self.dispute_id,
            description=self.description,
            created_at=self.created_at,
            updated_at=self.updated_at,
            version=self.version,
            delivered_at=self.delivered_at,
            payment_due_at=self.payment_due_at,
        )

    def _check_state(self, allowed: Collection[EscrowState], action: str) -> None:
        if self.state not in allowed:
            raise InvalidState(f"cannot {action}: escrow {self.escrow_id} is {self.state}")

    def _post(self, kind: TransactionKind, entries: tuple[Entry, ...], now: datetime) -> None:
        # Tagged with the version this change is about to get: _changed() follows every _post().
        self.transactions.append(Transaction(kind, entries, self.version + 1, now))

    def _changed(self, now: datetime) -> EscrowSnapshot:
        """Count one change and return the snapshot the event about it carries."""
        self.version += 1
        self.updated_at = now
        return self.snapshot()
