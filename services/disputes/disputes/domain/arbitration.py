"""Arbitration: an admin assigns an arbiter, and only that arbiter may split the held amount."""

from datetime import datetime

from .actors import ADMIN, ARBITER, Actor
from .errors import Forbidden, InvalidState, Malformed
from .events import ArbiterAssigned
from .money import check_split
from .record import DisputeRecord, check_utc
from .settlement import BY_ARBITER, Verdict
from .states import ARBITRATION


class DisputeArbitration(DisputeRecord):
    def assign_arbiter(self, actor: Actor, arbiter_id: str, now: datetime) -> None:
        """Assign (or reassign) the arbiter; the previous one loses the right to decide."""
        check_utc(now)
        self.check_admin(actor)
        self.check_eligible_arbiter(arbiter_id)
        self.check_state(ARBITRATION)
        if arbiter_id == self.arbiter_id:
            raise InvalidState(f"{arbiter_id} is already the arbiter of this dispute")
        previous, self.arbiter_id = self.arbiter_id, arbiter_id
        assigned = ArbiterAssigned(
            **self._event_keys(now),
            arbiter_id=arbiter_id,
            previous_arbiter_id=previous,
            assigned_by=actor.user_id,
        )
        details = {"arbiter_id": arbiter_id, "previous_arbiter_id": previous}
        self._step(now, actor, "arbiter_assigned", details, assigned)

    def issue_verdict(
        self, actor: Actor, *, contractor_amount: int, employer_amount: int, now: datetime
    ) -> None:
        """Split the held amount exactly; the escrow service then settles it.

        Keyword-only amounts: swapping the two shares would pay the wrong party.
        """
        check_utc(now)
        self.check_assigned_arbiter(actor)
        self.check_state(ARBITRATION)
        contractor, employer = check_split(contractor_amount, employer_amount, self.held)
        verdict = Verdict(BY_ARBITER, contractor, employer, actor.user_id, now)
        self._step(now, actor, "verdict_issued", verdict.as_dict(), self._decide(verdict))

    def check_admin(self, actor: Actor) -> None:
        if actor.role != ADMIN:
            raise Forbidden("only an admin may assign an arbiter")

    def check_eligible_arbiter(self, arbiter_id: str) -> None:
        if not isinstance(arbiter_id, str) or not arbiter_id.strip():
            raise Malformed("arbiter_id must name a user")
        if arbiter_id in (self.employer_id, self.contractor_id):
            raise Forbidden("a party may not arbitrate its own dispute")

    def check_assigned_arbiter(self, actor: Actor) -> None:
        if actor.role != ARBITER or self.arbiter_id is None or actor.user_id != self.arbiter_id:
            raise Forbidden("only the arbiter assigned to this dispute may issue its verdict")
