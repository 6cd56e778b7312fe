"""Business refusals of the disputes domain and their wire reason codes (DESIGN §7).

A refusal means nothing changed: every command checks all its guards before it touches state.
The service layer turns a refusal into a rejected CommandResult with `reason_code`.
"""


class DisputeRefusal(Exception):
    """A command the dispute rules do not allow; subclasses name the reason."""

    reason_code: str = "invalid_state"


class Forbidden(DisputeRefusal):
    """The actor may not do this (wrong role, not a party, not the assigned arbiter)."""

    reason_code = "forbidden"


class InvalidState(DisputeRefusal):
    """The dispute (or escrow) is not in a state that allows this."""

    reason_code = "invalid_state"


class DisputeAlreadyOpen(InvalidState):
    """The escrow already has an open dispute.

    A code of its own (not plain `invalid_state`) so the marketplace can show the open dispute
    instead of a generic error; it subclasses InvalidState for callers that only care about that.
    """

    reason_code = "dispute_already_open"


class InvalidAmount(DisputeRefusal):
    """An amount is not an integer, out of range, or the shares do not add up to the held amount."""

    reason_code = "invalid_amount"


class NotFound(DisputeRefusal):
    """The named dispute or settlement proposal does not exist."""

    reason_code = "not_found"


class NotEscrowed(DisputeRefusal):
    """The payment is not held in escrow (direct payment or unknown escrow): nothing to dispute."""

    reason_code = "not_escrowed"


class Malformed(DisputeRefusal):
    """Well-typed but unusable input: empty statement, unknown reason, bad evidence digest."""

    reason_code = "malformed"
