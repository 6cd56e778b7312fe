"""The Dispute aggregate and how one is opened.

pending -> negotiation -> arbitration -> closed, or rejected (the escrow could not be frozen),
or withdrawn (by the opener, before a verdict). A verdict (agreement or arbitration) leaves the
dispute in its state until the escrow reports the settlement; then it is closed.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Self

from . import snapshot as snapshots
from .actors import CONTRACTOR, EMPLOYER, PARTY_ROLES, Actor
from .arbitration import DisputeArbitration
from .deadlines import DisputeDeadlines
from .errors import DisputeAlreadyOpen, Forbidden, InvalidState, Malformed, NotEscrowed
from .escrow import EscrowSnapshot
from .events import DisputeOpened
from .evidence import Evidence, Statement, check_evidence, check_text
from .lifecycle import DisputeLifecycle
from .negotiation import DisputeNegotiation
from .record import DisputeRecord, check_utc

REASONS: Final = frozenset({"not_delivered", "quality", "not_released", "other"})


class Dispute(DisputeLifecycle, DisputeNegotiation, DisputeArbitration, DisputeDeadlines):
    def snapshot(self) -> dict[str, Any]:
        return snapshots.dump(self)

    @classmethod
    def open(
        cls,
        *,
        dispute_id: str,
        escrow: EscrowSnapshot | None,
        actor: Actor,
        reason: str,
        statement: str,
        evidence: Sequence[Evidence] = (),
        now: datetime,
        existing: Iterable[DisputeRecord] = (),
    ) -> Self:
        """Open a dispute on an escrow; `existing` are the disputes already known for it."""
        check_utc(now)
        escrow = check_escrowed(escrow)
        check_escrow_party(escrow, actor)
        check_no_open_dispute(escrow, existing)
        if not escrow.is_disputable:
            raise InvalidState(f"an escrow that is {escrow.state} cannot be disputed")
        if reason not in REASONS:
            raise Malformed(f"reason must be one of {sorted(REASONS)}")
        opening = Statement(1, actor, check_text(statement), check_evidence(evidence), now)
        dispute = cls(
            dispute_id=dispute_id,
            escrow_id=escrow.escrow_id,
            employer_id=escrow.employer_id,
            contractor_id=escrow.contractor_id,
            opener_role=actor.role,
            reason=reason,
            currency=escrow.currency,
        )
        dispute.statements.append(opening)
        dispute._step(
            now,
            actor,
            "opened",
            {"reason": reason, "statement": opening.as_dict()},
            dispute._opened(actor, now),
        )
        return dispute

    def _opened(self, actor: Actor, now: datetime) -> DisputeOpened:
        return DisputeOpened(
            **self._event_keys(now),
            opened_by=actor.user_id,
            opener_role=actor.role,
            respondent_id=self.respondent_id,
            employer_id=self.employer_id,
            contractor_id=self.contractor_id,
            reason=self.reason,
            currency=self.currency,
        )

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Self:
        return snapshots.load(cls, data)


def check_escrowed(escrow: EscrowSnapshot | None) -> EscrowSnapshot:
    if escrow is None:
        raise NotEscrowed("only a payment held in escrow can be disputed")
    return escrow


def check_escrow_party(escrow: EscrowSnapshot, actor: Actor) -> None:
    party_ids = {EMPLOYER: escrow.employer_id, CONTRACTOR: escrow.contractor_id}
    if actor.role not in PARTY_ROLES or actor.user_id != party_ids[actor.role]:
        raise Forbidden("only the employer or the contractor of the escrow may open a dispute")


def check_no_open_dispute(escrow: EscrowSnapshot, existing: Iterable[DisputeRecord]) -> None:
    for dispute in existing:
        if dispute.escrow_id == escrow.escrow_id and dispute.is_open:
            raise DisputeAlreadyOpen(f"dispute {dispute.dispute_id} is already open on this escrow")
