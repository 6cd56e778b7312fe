"""How money enters an escrow (its employer's payment, nobody else's) and how the parties let
it out.

Only two commands move held money out: the employer's release (to the contractor, less the fee)
and the contractor's refund (back to the employer, no fee). The employer can never take funded
money back by himself, and nothing but a verdict moves money out of a disputed escrow.
"""

from collections.abc import Mapping
from datetime import datetime

from . import ledger
from .actors import Actor, check_is_contractor, check_is_employer
from .errors import (
    AlreadyFunded,
    AmountMismatch,
    ExceedsHeld,
    FundingCurrencyMismatch,
    NotAwaitingPayment,
    PayerMismatch,
)
from .events import EscrowFunded, EscrowRefunded, EscrowReleased
from .ledger import TransactionKind
from .money import FeePolicy, FeeSplit, check_amount, fee_policy_for
from .record import EscrowRecord
from .states import WORKING_STATES, EscrowState
from .timers import check_aware


class EscrowHolding(EscrowRecord):
    def receive_payment(
        self, payment_id: str, payer_id: str, amount: int, currency: str, now: datetime
    ) -> bool:
        """Fund the escrow with its employer's payment; False if this payment already did.

        A redelivered PaymentReceived must not be refused: the payments service would refund a
        payment that is in fact held here, paying the employer twice.
        """
        check_aware(now)
        if payment_id == self.payment_id:
            return False
        self._check_fundable_by(payer_id, amount, currency)
        self._post(
            TransactionKind.FUNDING,
            ledger.funding(self.escrow_id, payment_id, self.currency, self.amount),
            now,
        )
        self.payment_id = payment_id
        self.state = EscrowState.FUNDED
        self.events.append(
            EscrowFunded(self._changed(now), payment_id=payment_id, amount=self.amount)
        )
        return True

    def _check_fundable_by(self, payer_id: str, amount: object, currency: str) -> None:
        # Who pays comes first, as the actor does for every command: a stranger's payment is
        # refused as his, whatever the state of the escrow.
        if payer_id != self.employer_id:
            raise PayerMismatch(
                f"escrow {self.escrow_id} is funded only by its employer, not by {payer_id!r}"
            )
        if self.payment_id is not None:
            raise AlreadyFunded(f"escrow {self.escrow_id} is already funded by {self.payment_id}")
        if self.state != EscrowState.AWAITING_PAYMENT:
            raise NotAwaitingPayment(
                f"escrow {self.escrow_id} is {self.state}, not awaiting payment"
            )
        if currency != self.currency:
            raise FundingCurrencyMismatch(f"payment in {currency}, escrow is in {self.currency}")
        # 100.0 == 100 and True == 1 in Python: only a true int may match the escrow's amount.
        if isinstance(amount, bool) or not isinstance(amount, int) or amount != self.amount:
            raise AmountMismatch(f"payment of {amount!r}, escrow is for {self.amount}")

    def release(
        self, actor: Actor, now: datetime, fees: Mapping[str, FeePolicy], amount: int | None = None
    ) -> None:
        """The employer lets `amount` (default: all that is held) go to the contractor."""
        check_aware(now)
        check_is_employer(actor, self.employer_id, "release an escrow")
        self._check_state(WORKING_STATES, "release")
        gross = self._amount_out(amount)
        self._pay_out_release(fee_policy_for(fees, self.currency).split(gross), now, False)

    def _pay_out_release(self, split: FeeSplit, now: datetime, automatic: bool) -> None:
        entries = ledger.release(self.escrow_id, self.contractor_id, self.currency, split)
        self._post(TransactionKind.RELEASE, entries, now)
        self._close_if_empty()
        snapshot = self._changed(now)
        self.events.append(
            EscrowReleased(
                snapshot, gross=split.gross, fee=split.fee, net=split.net, automatic=automatic
            )
        )

    def refund(self, actor: Actor, now: datetime, amount: int | None = None) -> None:
        """The contractor gives `amount` (default: all that is held) back to the employer."""
        check_aware(now)
        check_is_contractor(actor, self.contractor_id, "refund an escrow")
        self._check_state(WORKING_STATES, "refund")
        refunded = self._amount_out(amount)
        self._post(
            TransactionKind.REFUND,
            ledger.refund(self.escrow_id, self.employer_id, self.currency, refunded),
            now,
        )
        self._close_if_empty()
        self.events.append(EscrowRefunded(self._changed(now), amount=refunded))

    def _amount_out(self, amount: int | None) -> int:
        if amount is None:
            return self.held
        check_amount(amount)
        if amount > self.held:
            raise ExceedsHeld(f"{amount} exceeds the {self.held} held in escrow {self.escrow_id}")
        return amount

    def _close_if_empty(self) -> None:
        # The escrow ends when nothing is held; its name says where the money went (DESIGN §3).
        if self.held > 0:
            return
        if self.released_amount == self.funded_amount:
            self.state = EscrowState.RELEASED
        elif self.refunded_amount == self.funded_amount:
            self.state = EscrowState.REFUNDED
        else:
            self.state = EscrowState.SETTLED
