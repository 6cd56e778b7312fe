"""A payout: wallet money sent to the contractor's bank account (IBAN / Sheba).

Requesting it moves the money from the wallet to `payouts-in-flight` at once, so two payouts can
never spend the same balance. Completion sends it out through `gateway-clearing`. Giving up puts
it back in the wallet, and only when the gateway answered that nothing was paid: after an
unknown outcome (timeout, 5xx) the idempotent request keeps being retried at the longest delay,
because returning money that did leave would create it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract.base import Event, Role
from shared.contract.payments import PayoutCompleted, PayoutFailed, RequestPayout

from payments.domain import ledger
from payments.domain.errors import Forbidden, InsufficientFunds
from payments.domain.iban import check_iban, mask
from payments.domain.money import check_amount
from payments.domain.transfer import OutgoingTransfer


@dataclass(kw_only=True)
class Payout(OutgoingTransfer):
    payout_id: str
    user_id: str
    amount: int
    currency: str
    iban: str
    gateway: str
    #: the contractor's own account at the payout PSP, where it pays accounts rather than IBANs
    #: (a Stripe connected account); None for an IBAN payout
    payout_account: str | None = None

    @classmethod
    def request(
        cls, command: RequestPayout, *, balance: int, gateway: str
    ) -> tuple[Payout, ledger.Transaction]:
        if command.actor.role is not Role.CONTRACTOR:
            raise Forbidden("only a contractor withdraws from his wallet")
        amount = check_amount(command.amount)
        iban = check_iban(command.iban)
        if amount > balance:
            raise InsufficientFunds(f"the wallet holds {balance} {command.currency}, not {amount}")
        payout = cls(
            payout_id=command.payout_id,
            user_id=command.actor.user_id,
            amount=amount,
            currency=command.currency,
            iban=iban,
            gateway=gateway,
            payout_account=command.payout_account,
        )
        return payout, payout._reservation()

    @property
    def transfer_id(self) -> str:
        return self.payout_id

    def _reservation(self) -> ledger.Transaction:
        return self._move("requested", ledger.wallet(self.user_id), ledger.PAYOUTS_IN_FLIGHT)

    def _may_give_up(self, definitive: bool) -> bool:
        return definitive

    def _completed_event(self) -> Event:
        return PayoutCompleted(
            **self._identity(), iban_masked=mask(self.iban), reference=self.reference or ""
        )

    def _failed_event(self) -> Event:
        return PayoutFailed(
            **self._identity(), reason=self.last_error or "declined", attempts=self.attempts
        )

    def _completed_transaction(self) -> ledger.Transaction:
        return self._move("completed", ledger.PAYOUTS_IN_FLIGHT, ledger.GATEWAY_CLEARING)

    def _failed_transaction(self) -> ledger.Transaction:
        return self._move("returned", ledger.PAYOUTS_IN_FLIGHT, ledger.wallet(self.user_id))

    def _move(self, step: str, source: str, target: str) -> ledger.Transaction:
        kinds = {
            "requested": ledger.TransactionKind.PAYOUT_REQUESTED,
            "completed": ledger.TransactionKind.PAYOUT_COMPLETED,
            "returned": ledger.TransactionKind.PAYOUT_RETURNED,
        }
        return ledger.transaction(
            f"payout:{self.payout_id}:{step}",
            kinds[step],
            self.currency,
            *ledger.moves(source, self.amount, (target, self.amount)),
        )

    def _identity(self) -> dict[str, object]:
        return {
            "payout_id": self.payout_id,
            "user_id": self.user_id,
            "amount": self.amount,
            "currency": self.currency,
        }
