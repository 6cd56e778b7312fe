"""The dispute's saga with the escrow service, and its end: freeze, reject, withdraw, close.

The escrow service owns the money; a dispute only moves on its answers. Facts that arrive late
or out of order are refused with InvalidState (nothing changes) and the service acknowledges them.
"""

from datetime import datetime

from .actors import SYSTEM_ACTOR, Actor
from .errors import InvalidState
from .events import DisputeClosed, DisputeEnteredNegotiation, DisputeRejected, DisputeWithdrawn
from .money import check_held_amount
from .record import DisputeRecord, check_utc
from .states import CLOSED, NEGOTIATION, OPEN_STATES, PENDING, REJECTED, WITHDRAWN


class DisputeLifecycle(DisputeRecord):
    def escrow_disputed(self, held_amount: int, now: datetime) -> None:
        """The escrow is frozen: negotiation starts and the respondent's clock runs from now."""
        check_utc(now)
        self.check_state(PENDING)
        held = check_held_amount(held_amount)
        self.state, self.held_amount, self.negotiation_started_at = NEGOTIATION, held, now
        entered = DisputeEnteredNegotiation(
            **self._event_keys(now), held_amount=held, currency=self.currency
        )
        details = {"held_amount": held, "currency": self.currency}
        self._step(now, SYSTEM_ACTOR, "escrow_frozen", details, entered)

    def escrow_dispute_rejected(self, reason: str, now: datetime) -> None:
        """The escrow could not be frozen (released or refunded first): the race is lost."""
        check_utc(now)
        self.check_state(PENDING)
        self.state = REJECTED
        rejected = DisputeRejected(**self._event_keys(now), reason=reason)
        self._step(now, SYSTEM_ACTOR, "rejected", {"reason": reason}, rejected)

    def withdraw(self, actor: Actor, now: datetime) -> None:
        """The opener gives up before a verdict; the escrow service unfreezes the escrow."""
        check_utc(now)
        self.check_opener(actor)
        self.check_state(*OPEN_STATES)
        before, self.state = self.state, WITHDRAWN
        withdrawn = DisputeWithdrawn(
            **self._event_keys(now), withdrawn_by=actor.user_id, withdrawn_from=before
        )
        self._step(now, actor, "withdrawn", {"withdrawn_from": before}, withdrawn)

    def escrow_settled(self, now: datetime) -> None:
        """The escrow paid out the verdict: nothing is left to decide."""
        check_utc(now)
        if self.verdict is None or not self.is_open:
            raise InvalidState(f"no verdict awaits settlement (dispute is {self.state})")
        kind, self.state = self.verdict.kind, CLOSED
        closed = DisputeClosed(**self._event_keys(now), verdict_kind=kind)
        self._step(now, SYSTEM_ACTOR, "closed", {"verdict_kind": kind}, closed)
