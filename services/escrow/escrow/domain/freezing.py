"""Disputes as the escrow sees them: a freeze of held money, lifted by withdrawal or a verdict.

The disputes service decides; the escrow only accepts or refuses the freeze and executes the
verdict. These are events from another service, so they carry no actor to check. A redelivered
DisputeOpened or VerdictIssued that already took effect is recognised and changes nothing.
"""

from collections.abc import Mapping
from datetime import datetime

from . import ledger
from .errors import (
    CurrencyMismatch,
    DisputeAlreadyOpen,
    DisputeRefused,
    InvalidAmount,
    InvalidState,
)
from .events import EscrowDisputed, EscrowSettled, EscrowUnfrozen
from .ledger import TransactionKind
from .money import FeePolicy, check_share, fee_policy_for
from .record import EscrowRecord
from .states import WORKING_STATES, EscrowState
from .timers import check_aware


class EscrowFreezing(EscrowRecord):
    def open_dispute(self, dispute_id: str, now: datetime) -> bool:
        """Freeze the escrow for `dispute_id`; False if that dispute already froze it."""
        check_aware(now)
        if self.state == EscrowState.DISPUTED:
            if dispute_id == self.dispute_id:
                return False
            raise DisputeAlreadyOpen(f"escrow {self.escrow_id} is frozen by {self.dispute_id}")
        if self.state not in WORKING_STATES:
            raise DisputeRefused(f"escrow {self.escrow_id} is {self.state}: nothing to dispute")
        self.state_before_dispute, self.state = self.state, EscrowState.DISPUTED
        self.dispute_id = dispute_id
        self.events.append(EscrowDisputed(self._changed(now), dispute_id))
        return True

    def withdraw_dispute(self, dispute_id: str, now: datetime) -> None:
        """Lift the freeze: the escrow goes back to the state it had before the dispute."""
        check_aware(now)
        self._check_frozen_by(dispute_id, "withdraw the dispute")
        assert self.state_before_dispute is not None  # set together with DISPUTED
        self.state, self.state_before_dispute = self.state_before_dispute, None
        self.dispute_id = None
        self.events.append(EscrowUnfrozen(self._changed(now), dispute_id))

    def settle(
        self,
        dispute_id: str,
        *,
        contractor_amount: int,
        employer_amount: int,
        currency: str,
        now: datetime,
        fees: Mapping[str, FeePolicy],
        verdict_kind: str = "arbitration",
    ) -> bool:
        """Split everything held by the verdict; False if this verdict already settled it."""
        check_aware(now)
        if self.state == EscrowState.SETTLED and dispute_id == self.dispute_id:
            return False
        self._check_frozen_by(dispute_id, "settle")
        self._check_split(contractor_amount, employer_amount, currency)
        contractor = fee_policy_for(fees, self.currency).split(contractor_amount)
        parties = (self.employer_id, self.contractor_id)
        entries = ledger.settlement(
            self.escrow_id, parties, self.currency, contractor, employer_amount
        )
        self._post(TransactionKind.SETTLEMENT, entries, now)
        self.state, self.state_before_dispute = EscrowState.SETTLED, None
        self.events.append(
            EscrowSettled(
                self._changed(now),
                dispute_id=dispute_id,
                verdict_kind=verdict_kind,
                contractor_amount=contractor.gross,
                fee=contractor.fee,
                contractor_net=contractor.net,
                employer_amount=employer_amount,
            )
        )
        return True

    def _check_frozen_by(self, dispute_id: str, action: str) -> None:
        self._check_state({EscrowState.DISPUTED}, action)
        if dispute_id != self.dispute_id:
            raise InvalidState(
                f"escrow {self.escrow_id} is frozen by {self.dispute_id}, not by {dispute_id}"
            )

    def _check_split(self, contractor_amount: int, employer_amount: int, currency: str) -> None:
        if currency != self.currency:
            raise CurrencyMismatch(f"verdict in {currency}, escrow is in {self.currency}")
        contractor = check_share(contractor_amount, "contractor_amount")
        employer = check_share(employer_amount, "employer_amount")
        if contractor + employer != self.held:
            raise InvalidAmount(
                f"contractor_amount {contractor} + employer_amount {employer} "
                f"must equal the held amount {self.held} exactly"
            )
