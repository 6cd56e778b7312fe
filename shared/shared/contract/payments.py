"""The payments context's wire contract: payments at a gateway, wallets, payouts and refunds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import StringConstraints, model_validator

from shared.contract.base import Amount, Command, Currency, Event, Identifier, Text

CONTEXT = "payments"

#: An IBAN; Iranian Sheba numbers are IBANs starting with IR. Checksummed by the payments service.
Iban = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")]
#: The payee's own account at a payout PSP that pays accounts (a Stripe connected account).
PayoutAccount = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]


class PaymentPurpose(StrEnum):
    ESCROW = "escrow"  # funds one escrow
    DIRECT = "direct"  # an ordinary payment outside escrow: no guarantee, never disputable


class StartPayment(Command):
    """The payer opens a payment at the gateway; the answer is a redirect URL (`PaymentStarted`)."""

    TYPE: ClassVar[str] = "payments.StartPayment.v1"
    TOPIC: ClassVar[str] = "payment-commands"

    payment_id: Identifier
    purpose: PaymentPurpose
    amount: Amount
    currency: Currency
    escrow_id: Identifier | None = None
    payee_id: Identifier | None = None
    description: Text = ""

    @model_validator(mode="after")
    def _purpose_names_its_target(self) -> StartPayment:
        if self.purpose is PaymentPurpose.ESCROW and not self.escrow_id:
            raise ValueError("an escrow payment names its escrow_id")
        if self.purpose is PaymentPurpose.DIRECT and not self.payee_id:
            raise ValueError("a direct payment names its payee_id")
        return self

    def kafka_key(self) -> str:
        return self.escrow_id or self.payment_id


class RequestPayout(Command):
    """The contractor sends wallet money to his bank account."""

    TYPE: ClassVar[str] = "payments.RequestPayout.v1"
    TOPIC: ClassVar[str] = "payment-commands"

    payout_id: Identifier
    amount: Amount
    currency: Currency
    iban: Iban
    #: extension (issue 13): the contractor's own account at the payout PSP, where the
    #: currency's payout gateway pays accounts rather than IBANs (Stripe Connect: `acct_…`)
    payout_account: PayoutAccount | None = None

    def kafka_key(self) -> str:
        return self.payout_id


class RetryRefund(Command):
    """An operator retries a refund that ran out of automatic retries."""

    TYPE: ClassVar[str] = "payments.RetryRefund.v1"
    TOPIC: ClassVar[str] = "payment-commands"

    refund_id: Identifier

    def kafka_key(self) -> str:
        return self.refund_id


COMMANDS: tuple[type[Command], ...] = (StartPayment, RequestPayout, RetryRefund)


class _PaymentEvent(Event):
    payment_id: str
    purpose: PaymentPurpose
    payer_id: str
    amount: int
    currency: str
    escrow_id: str | None = None
    payee_id: str | None = None

    def kafka_key(self) -> str:
        return self.escrow_id or self.payment_id


class PaymentStarted(_PaymentEvent):
    TYPE: ClassVar[str] = "payments.PaymentStarted.v1"
    TOPIC: ClassVar[str] = "payment-started"

    gateway: str
    redirect_url: str


class PaymentReceived(_PaymentEvent):
    """The gateway confirmed the money; `guaranteed` is false for direct payments."""

    TYPE: ClassVar[str] = "payments.PaymentReceived.v1"
    TOPIC: ClassVar[str] = "payment-received"

    gateway: str
    reference: str
    guaranteed: bool


class PaymentFailed(_PaymentEvent):
    TYPE: ClassVar[str] = "payments.PaymentFailed.v1"
    TOPIC: ClassVar[str] = "payment-failed"

    reason: str


class _PayoutEvent(Event):
    payout_id: str
    user_id: str
    amount: int
    currency: str

    def kafka_key(self) -> str:
        return self.payout_id


class PayoutCompleted(_PayoutEvent):
    TYPE: ClassVar[str] = "payments.PayoutCompleted.v1"
    TOPIC: ClassVar[str] = "payout-completed"

    iban_masked: str
    reference: str


class PayoutFailed(_PayoutEvent):
    """The payout gave up after its retries; the money is back in the wallet."""

    TYPE: ClassVar[str] = "payments.PayoutFailed.v1"
    TOPIC: ClassVar[str] = "payout-failed"

    reason: str
    attempts: int


class _RefundEvent(Event):
    refund_id: str
    payment_id: str
    employer_id: str
    amount: int
    currency: str
    cause: Literal["escrow_refunded", "escrow_settled", "funding_rejected"]
    escrow_id: str | None = None

    def kafka_key(self) -> str:
        return self.escrow_id or self.payment_id


class RefundCompleted(_RefundEvent):
    TYPE: ClassVar[str] = "payments.RefundCompleted.v1"
    TOPIC: ClassVar[str] = "refund-completed"

    reference: str


class RefundFailed(_RefundEvent):
    """Automatic retries ran out; an operator's `RetryRefund` tries again. Never dropped."""

    TYPE: ClassVar[str] = "payments.RefundFailed.v1"
    TOPIC: ClassVar[str] = "refund-failed"

    reason: str
    attempts: int


EVENTS: tuple[type[Event], ...] = (
    PaymentStarted,
    PaymentReceived,
    PaymentFailed,
    PayoutCompleted,
    PayoutFailed,
    RefundCompleted,
    RefundFailed,
)
