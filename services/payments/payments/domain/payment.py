"""A payment at a gateway, from `StartPayment` to received or failed (DESIGN §4).

Nothing is recorded on a callback's word: `settle` takes the gateway's own verification and
refuses it unless token, order, amount and currency are exactly the payment's. A payment that is
no longer `started` ignores further callbacks, so a repeated callback changes nothing.

A payment whose callback never comes is asked of its gateway (`inquired`) from
`next_inquiry_at` on, again and again, until the gateway settles it: none stays open unnoticed.
What the gateway kept of a paid amount as its fee is booked beside the arrival, so the books say
what is really at the gateway.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.contract.base import Event, Role
from shared.contract.payments import (
    PaymentFailed,
    PaymentPurpose,
    PaymentReceived,
    PaymentStarted,
    StartPayment,
)

from payments.domain import ledger
from payments.domain.errors import CallbackMismatch, Forbidden, InvalidState
from payments.domain.gateway import CallbackClaim, GatewaySession, Verification
from payments.domain.money import check_amount, check_currency


class PaymentStatus(StrEnum):
    STARTED = "started"
    RECEIVED = "received"
    FAILED = "failed"


@dataclass
class Payment:
    payment_id: str
    purpose: PaymentPurpose
    payer_id: str
    amount: int
    currency: str
    gateway: str
    escrow_id: str | None = None
    payee_id: str | None = None
    description: str = ""
    status: PaymentStatus = PaymentStatus.STARTED
    session_token: str | None = None
    redirect_url: str | None = None
    reference: str | None = None
    failure_reason: str | None = None
    #: what the gateway kept of the amount as its fee (booked as a gateway fee)
    fee: int = 0
    #: when the gateway is next asked about a payment whose callback has not come
    next_inquiry_at: datetime | None = None
    #: the StartPayment it follows from (its CloudEvents id and correlation), which the events
    #: sent later (on the gateway's callback, an inquiry) carry as their causation and correlation
    caused_by: str | None = None
    correlation_id: str | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def start(cls, command: StartPayment, gateway: str, accepted: Collection[str]) -> Payment:
        if command.actor.role is not Role.EMPLOYER:
            raise Forbidden("only an employer pays")
        if command.payee_id == command.actor.user_id:
            raise InvalidState("a direct payment cannot be paid to oneself")
        return cls(
            payment_id=command.payment_id,
            purpose=command.purpose,
            payer_id=command.actor.user_id,
            amount=check_amount(command.amount),
            currency=check_currency(command.currency, accepted),
            gateway=gateway,
            escrow_id=command.escrow_id if command.purpose is PaymentPurpose.ESCROW else None,
            payee_id=command.payee_id if command.purpose is PaymentPurpose.DIRECT else None,
            description=command.description,
        )

    def opened(self, session: GatewaySession, *, inquire_at: datetime) -> None:
        self.next_inquiry_at = inquire_at
        self.session_token = session.token
        self.redirect_url = session.redirect_url
        self.events.append(
            PaymentStarted(**self._identity(), gateway=self.gateway, redirect_url=self.redirect_url)
        )

    @property
    def settled(self) -> bool:
        return self.status is not PaymentStatus.STARTED

    def check_claim(self, claim: CallbackClaim) -> None:
        """A callback that names another amount, currency or order than ours is refused."""
        self._compare(claim.token, claim.order_id, claim.amount, claim.currency, "callback")

    def inquired(
        self, verification: Verification, *, now: datetime, again_after: timedelta
    ) -> list[ledger.Transaction]:
        """Record the gateway's answer to an inquiry (no callback came): settled when it says
        paid or failed, else asked again after `again_after`."""
        if verification.status == "pending":
            self.next_inquiry_at = now + again_after
            return []
        return self.settle(verification)

    def settle(
        self, verification: Verification, claim: CallbackClaim | None = None
    ) -> list[ledger.Transaction]:
        """Record the gateway's verified answer; the ledger transactions if money arrived (the
        arrival, and the gateway's fee when it kept one).

        What the gateway verified as paid is recorded whatever the callback claimed (the money
        did arrive). A failure is recorded only when the callback does not claim the opposite,
        so an early or forged "paid" callback cannot mark a payment failed.
        """
        if self.settled:
            return []
        if verification.status == "pending":
            raise CallbackMismatch(f"the gateway has not settled payment {self.payment_id} yet")
        if verification.status == "failed":
            self._failed(verification, claim)
            return []
        self._compare(
            verification.token,
            verification.order_id,
            verification.amount,
            verification.currency,
            "verification",
        )
        if isinstance(verification.fee, bool) or not 0 <= verification.fee <= self.amount:
            raise CallbackMismatch(
                f"verification of payment {self.payment_id}: fee {verification.fee!r} "
                f"is not between 0 and {self.amount}"
            )
        self.status = PaymentStatus.RECEIVED
        self.next_inquiry_at = None
        self.reference = verification.reference or verification.token
        self.fee = verification.fee
        self.events.append(
            PaymentReceived(
                **self._identity(),
                gateway=self.gateway,
                reference=self.reference,
                guaranteed=self.purpose is PaymentPurpose.ESCROW,
            )
        )
        return [self._arrival(), *self._gateway_fee()]

    def _failed(self, verification: Verification, claim: CallbackClaim | None) -> None:
        self._compare(verification.token, verification.order_id, None, None, "verification")
        if claim is not None and claim.status == "paid":
            raise CallbackMismatch(f"payment {self.payment_id}: paid by callback, not by gateway")
        self.status = PaymentStatus.FAILED
        self.next_inquiry_at = None
        self.failure_reason = verification.reason or "the payer did not pay"
        self.events.append(PaymentFailed(**self._identity(), reason=self.failure_reason))

    def _arrival(self) -> ledger.Transaction:
        """Escrow money is held for the escrow; a direct payment is the payee's at once."""
        if self.purpose is PaymentPurpose.ESCROW:
            assert self.escrow_id is not None
            kind, target = (
                ledger.TransactionKind.ESCROW_FUNDING,
                ledger.escrow_holding(self.escrow_id),
            )
        else:
            assert self.payee_id is not None
            kind, target = ledger.TransactionKind.DIRECT_PAYMENT, ledger.wallet(self.payee_id)
        return ledger.transaction(
            f"payment:{self.payment_id}",
            kind,
            self.currency,
            *ledger.moves(ledger.GATEWAY_CLEARING, self.amount, (target, self.amount)),
        )

    def _gateway_fee(self) -> list[ledger.Transaction]:
        """What the gateway kept: less is at the gateway than was paid. The platform bears it
        (the escrow or payee is credited the whole amount), so it is an expense of its own."""
        if not self.fee:
            return []
        return [
            ledger.transaction(
                f"payment:{self.payment_id}:gateway-fee",
                ledger.TransactionKind.GATEWAY_FEE,
                self.currency,
                *ledger.moves(ledger.GATEWAY_FEES, self.fee, (ledger.GATEWAY_CLEARING, self.fee)),
            )
        ]

    def _compare(
        self,
        token: str,
        order_id: str | None,
        amount: int | None,
        currency: str | None,
        what: str,
    ) -> None:
        problems = []
        if token != self.session_token:
            problems.append("token")
        if order_id is not None and order_id != self.payment_id:
            problems.append("order id")
        if amount is not None and amount != self.amount:
            problems.append(f"amount {amount} != {self.amount}")
        if currency is not None and currency != self.currency:
            problems.append(f"currency {currency} != {self.currency}")
        if problems:
            raise CallbackMismatch(f"{what} of payment {self.payment_id}: " + ", ".join(problems))

    def _identity(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "purpose": self.purpose,
            "payer_id": self.payer_id,
            "amount": self.amount,
            "currency": self.currency,
            "escrow_id": self.escrow_id,
            "payee_id": self.payee_id,
        }
