"""What the domain knows of payment gateways: the values that cross the gateway port.

The port itself (`adapters.gateways.port.Gateway`) is implemented by the sandbox and by real PSP
adapters; these values are all the service layer and the aggregates ever see of them.
"""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str
    amount: int
    currency: str
    description: str
    callback_url: str


@dataclass(frozen=True)
class GatewaySession:
    """An opened payment: the gateway's token for it and where to send the payer."""

    token: str
    redirect_url: str


@dataclass(frozen=True)
class CallbackClaim:
    """What a callback says happened; never trusted until the gateway verifies it.

    Fields the gateway's callback does not carry are None and are not compared.
    """

    token: str
    status: str | None = None
    amount: int | None = None
    currency: str | None = None
    order_id: str | None = None


VerifiedStatus = Literal["paid", "failed", "pending"]


@dataclass(frozen=True)
class Verification:
    """The gateway's own server-side answer about a payment session.

    `pending` (the payer has not finished) settles nothing: a callback that arrives before the
    gateway knows the outcome is refused, so nobody can mark a payment failed while it is paid.
    """

    token: str
    status: VerifiedStatus
    amount: int | None = None
    currency: str | None = None
    order_id: str | None = None
    reference: str | None = None
    reason: str = ""
    #: what the gateway kept of a paid amount as its fee, when the merchant pays it (Zarinpal's
    #: `fee_type: Merchant`, Stripe's balance-transaction fee), minor units: booked as a gateway
    #: fee, so the books say what is really at the gateway
    fee: int = 0


@dataclass(frozen=True)
class Transfer:
    """Money leaving through a gateway: a payout to an IBAN, or a refund of a payment.

    `transfer_id` is the idempotency key: the same id sent twice moves the money once (each
    adapter derives the PSP's own idempotency key or tracking id from it).
    `destination` is the payout's IBAN, or the refunded payment's session token. `account` is
    the payee's own account at the payout PSP where it pays accounts, not IBANs (a Stripe
    connected account `acct_…`); `payment_reference` is the refunded payment's reference at its
    gateway (Zarinpal's `ref_id`, Stripe's PaymentIntent).
    """

    transfer_id: str
    amount: int
    currency: str
    destination: str
    account: str | None = None
    payment_reference: str | None = None


class GatewayError(Exception):
    """A gateway call did not succeed. `definitive` is True when the gateway answered that no
    money moved; False when the outcome is unknown (timeout, 5xx, unreadable answer)."""

    definitive: bool = False


class GatewayUnavailable(GatewayError):
    definitive = False


class GatewayDeclined(GatewayError):
    definitive = True


class TransferInProgress(GatewayError):
    """The PSP took the transfer and has not finished it (a bank transfer in a PAYA or SATNA
    cycle, a refund being processed): asked again later with the same idempotency key, without
    counting as a failed attempt and without ever giving up on it."""

    definitive = False


class UnsupportedByGateway(GatewayDeclined):
    """The gateway has no API for this operation (the payout PSP takes no payments)."""


@dataclass(frozen=True)
class Settled:
    """One payment a gateway says it took: its reference there (the session token the payments
    table stores: Zarinpal's authority, Stripe's Checkout Session, the sandbox's token) and the
    amount it took, in minor units."""

    reference: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Settlements:
    """What a gateway listed as settled for a window of time.

    `complete` is True when the listing holds every payment the gateway took in the window, so a
    payment the suite received and the listing lacks is a difference too. A gateway that can only
    list part of what it took (Zarinpal's unVerified: what is paid and not yet verified), or a
    listing cut short at its bound, is incomplete: it can name payments the suite has not
    recorded, never the opposite.
    """

    items: tuple[Settled, ...]
    complete: bool
    #: the listing stopped at its bound (`SETTLED_MAX_ITEMS`): there may be more
    truncated: bool = False
