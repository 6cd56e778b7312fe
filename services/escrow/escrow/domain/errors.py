"""Business refusals of the escrow domain and their wire reason codes (DESIGN §7).

A refusal means nothing changed: every method checks all its guards before it touches state, so
the service layer can turn any refusal into a rejected CommandResult (or a FundingRejected /
EscrowDisputeRejected event) with `reason_code` and know that no money moved.
"""


class EscrowRefusal(Exception):
    """Something the escrow rules do not allow; subclasses name the reason."""

    reason_code: str = "invalid_state"


class Forbidden(EscrowRefusal):
    """The actor may not do this (wrong role, or not this contract's employer/contractor)."""

    reason_code = "forbidden"


class InvalidAmount(EscrowRefusal):
    """Not an integer in 1..10**15, or a split that does not hand out exactly what is held."""

    reason_code = "invalid_amount"


class InvalidState(EscrowRefusal):
    """The escrow is not in a state that allows this (or a timer is not, or no longer, due)."""

    reason_code = "invalid_state"


class NotFound(EscrowRefusal):
    """The named contract or escrow does not exist (raised by the service's repository)."""

    reason_code = "not_found"


class ExceedsAgreedAmount(EscrowRefusal):
    """Agreed escrows of a contract may not add up to more than its agreed price."""

    reason_code = "exceeds_agreed_amount"


class ExceedsHeld(EscrowRefusal):
    """A release or refund asks for more than the escrow holds."""

    reason_code = "exceeds_held"


class CurrencyMismatch(EscrowRefusal):
    """Money in another currency than the escrow's."""

    reason_code = "currency_mismatch"


class UnsupportedCurrency(EscrowRefusal):
    """Not an ISO 4217 code this deployment accepts (or has no fee policy for)."""

    reason_code = "unsupported_currency"


class DisputeRefused(InvalidState):
    """A dispute cannot freeze this escrow; the service answers EscrowDisputeRejected.

    Only money that is held and not yet promised (funded, delivered) can be disputed.
    """


class DisputeAlreadyOpen(DisputeRefused):
    """Another dispute already froze the escrow (same code as the disputes service uses)."""

    reason_code = "dispute_already_open"


class FundingRefused(EscrowRefusal):
    """A payment that cannot fund its escrow; the service answers FundingRejected and the
    payments service refunds it in full."""

    reason_code = "funding_refused"


class PayerMismatch(FundingRefused):
    """The payment is not from the escrow's employer (DESIGN §8: only he may fund it).

    Held, a stranger's money would later be released to the contractor or refunded in the
    employer's name, while the payments service refunds the payer: the books would not match.
    """

    reason_code = "payer_mismatch"


class NotAwaitingPayment(FundingRefused):
    """The escrow is requested, cancelled or declined: nobody asked for this money."""

    reason_code = "not_awaiting_payment"


class AlreadyFunded(FundingRefused):
    """Another payment already funded the escrow; a second one would be held twice."""

    reason_code = "already_funded"


class AmountMismatch(FundingRefused):
    """The payment is not exactly the escrow's amount."""

    reason_code = "amount_mismatch"


class FundingCurrencyMismatch(FundingRefused, CurrencyMismatch):
    """The payment is in another currency than the escrow's."""

    reason_code = "currency_mismatch"
