"""Business refusals of the payments domain and their wire reason codes (DESIGN §7).

A refusal means nothing changed: handlers check every guard before they write, so the runtime
turns a refusal into a rejected CommandResult carrying `reason_code` and rolls back.
Callback problems are not refusals of a command but answers to an HTTP caller: they carry the
HTTP status the callback route returns.
"""


class PaymentsRefusal(Exception):
    """Something the payments rules do not allow; subclasses name the reason."""

    reason_code: str = "invalid_state"


class Forbidden(PaymentsRefusal):
    """The actor's role may not do this (only employers pay, contractors withdraw, admins retry)."""

    reason_code = "forbidden"


class InvalidAmount(PaymentsRefusal):
    reason_code = "invalid_amount"


class UnsupportedCurrency(PaymentsRefusal):
    """Not a currency this deployment (or its gateway) accepts."""

    reason_code = "unsupported_currency"


class NotFound(PaymentsRefusal):
    reason_code = "not_found"


class AlreadyExists(PaymentsRefusal):
    """A new command reuses the id of an existing payment or payout (a resend reuses its id)."""

    reason_code = "already_exists"


class InvalidState(PaymentsRefusal):
    reason_code = "invalid_state"


class InsufficientFunds(PaymentsRefusal):
    """A payout larger than what the wallet holds."""

    reason_code = "insufficient_funds"


class InvalidIban(PaymentsRefusal):
    """Not a well-formed IBAN / Sheba number, or its mod-97 checksum fails."""

    reason_code = "invalid_iban"


class GatewayRefused(PaymentsRefusal):
    """The gateway would not open a payment session (down, or refused the request)."""

    reason_code = "gateway_unavailable"


class CallbackRejected(Exception):
    """A gateway callback we will not record; `status_code` is the HTTP answer (4xx)."""

    status_code: int = 400
    reason: str = "rejected"


class ForgedCallback(CallbackRejected):
    """The signature does not match: someone other than the gateway sent it."""

    status_code = 401
    reason = "forged"


class UnknownPayment(CallbackRejected):
    status_code = 404
    reason = "unknown_payment"


class CallbackMismatch(CallbackRejected):
    """The callback or the gateway's verification disagrees with the payment we opened."""

    status_code = 409
    reason = "mismatch"


class LedgerInconsistency(Exception):
    """Money would leave an account that does not hold it: a bug or a forged event, never a user
    error. Raised (not refused) so the message is retried, then dead-lettered for an operator."""
