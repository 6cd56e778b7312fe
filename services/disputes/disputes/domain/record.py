"""The dispute's state, its guards, and the one way it changes (`_step`).

Each command in the phase modules (lifecycle, negotiation, arbitration, deadlines) runs all its
guards first, then calls `_step` once: one timeline entry, version + 1, and its events. So a
refusal changes nothing, and `version == len(timeline)` always holds.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .actors import CONTRACTOR, EMPLOYER, PARTY_ROLES, Actor, other_party
from .errors import Forbidden, InvalidState
from .events import DisputeEscalated, DisputeEvent, VerdictIssued
from .evidence import Statement
from .settlement import Proposal, Verdict
from .states import ARBITRATION, OPEN_STATES, PENDING
from .timeline import Timeline


class DisputeRecord:
    def __init__(
        self,
        *,
        dispute_id: str,
        escrow_id: str,
        employer_id: str,
        contractor_id: str,
        opener_role: str,
        reason: str,
        currency: str,
    ) -> None:
        self.dispute_id, self.escrow_id = dispute_id, escrow_id
        self.employer_id, self.contractor_id = employer_id, contractor_id
        self.opener_role, self.reason, self.currency = opener_role, reason, currency
        self.state: str = PENDING
        self.held_amount: int | None = None
        self.arbiter_id: str | None = None
        self.verdict: Verdict | None = None
        self.statements: list[Statement] = []
        self.proposals: list[Proposal] = []
        self.respondent_answered = False
        self.negotiation_started_at: datetime | None = None
        self.arbitration_started_at: datetime | None = None
        self.fired_timers: set[str] = set()
        self.timeline = Timeline()
        self.version = 0
        self.events: list[DisputeEvent] = []

    @property
    def is_open(self) -> bool:
        """Open until closed, rejected or withdrawn, even with a verdict awaiting settlement."""
        return self.state in OPEN_STATES

    @property
    def respondent_role(self) -> str:
        return other_party(self.opener_role)

    @property
    def opener_id(self) -> str:
        return self.party_id(self.opener_role)

    @property
    def respondent_id(self) -> str:
        return self.party_id(self.respondent_role)

    @property
    def held(self) -> int:
        if self.held_amount is None:
            raise InvalidState("the escrow has not confirmed the held amount yet")
        return self.held_amount

    def party_id(self, role: str) -> str:
        return {EMPLOYER: self.employer_id, CONTRACTOR: self.contractor_id}[role]

    def check_party(self, actor: Actor) -> None:
        if actor.role not in PARTY_ROLES or actor.user_id != self.party_id(actor.role):
            raise Forbidden("only the employer or the contractor of this dispute may do this")

    def check_opener(self, actor: Actor) -> None:
        self.check_party(actor)
        if actor.role != self.opener_role:
            raise Forbidden("only the party who opened the dispute may do this")

    def check_state(self, *states: str) -> None:
        """The dispute is in one of `states` and no verdict is waiting for settlement."""
        if self.state not in states:
            raise InvalidState(f"not allowed while the dispute is {self.state}")
        if self.verdict is not None:
            raise InvalidState("a verdict has been issued; the dispute awaits settlement")

    def _step(
        self,
        now: datetime,
        actor: Actor,
        kind: str,
        details: Mapping[str, Any],
        *events: DisputeEvent,
    ) -> None:
        self.timeline.append(now, actor, kind, details)
        self.version += 1
        self.events.extend(events)

    def _escalate(
        self, now: datetime, by: str, cause: str, requested_by: str | None
    ) -> DisputeEscalated:
        self.state, self.arbitration_started_at = ARBITRATION, now
        return DisputeEscalated(
            **self._event_keys(now), by=by, cause=cause, requested_by=requested_by
        )

    def _decide(self, verdict: Verdict) -> VerdictIssued:
        self.verdict = verdict
        return VerdictIssued(
            **self._event_keys(verdict.at),
            kind=verdict.kind,
            contractor_amount=verdict.contractor_amount,
            employer_amount=verdict.employer_amount,
            currency=self.currency,
            arbiter_id=verdict.arbiter_id,
        )

    def _event_keys(self, now: datetime) -> dict[str, Any]:
        return {"dispute_id": self.dispute_id, "escrow_id": self.escrow_id, "at": now}


def check_utc(now: datetime) -> datetime:
    # A naive or local time would shift every deadline; this is a caller bug, not a refusal.
    if now.tzinfo is None or now.utcoffset() != UTC.utcoffset(None):
        raise ValueError("now must be a timezone-aware UTC datetime")
    return now
