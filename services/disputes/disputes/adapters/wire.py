"""Translation between the disputes domain and the wire contract (shared.contract.disputes).

Every wire event carries the dispute as it stands after the step (state, version, arbiter).
Two domain events have no wire type: `DisputeEnteredNegotiation` (the escrow's own
`escrow-disputed` already announces the freeze) and `SettlementAccepted` (its `VerdictIssued` of
kind `agreement`, recorded in the same step, carries the same split).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.contract import disputes as wire
from shared.contract.base import Actor as WireActor

from disputes import domain
from disputes.domain import events as facts  # the domain's events, beside the wire's

Fields = dict[str, Any]


def actor(who: WireActor) -> domain.Actor:
    return domain.Actor(user_id=who.user_id, role=who.role.value)


def evidence(items: list[wire.Evidence]) -> list[domain.Evidence]:
    return [domain.Evidence(e.name, e.media_type, e.sha256, e.uri) for e in items]


def _opened(e: facts.DisputeOpened, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.DisputeOpened, {
        "opened_by": e.opened_by,
        "opened_by_role": e.opener_role,
        "reason": e.reason,
    }


def _rejected(e: facts.DisputeRejected, extra: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.DisputeRejected, {"reason_code": e.reason, "message": extra.get("message", "")}


def _statement(e: facts.StatementSubmitted, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.StatementSubmitted, {"by": e.author_id, "evidence_count": len(e.evidence)}


def _proposed(e: facts.SettlementProposed, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.SettlementProposed, {
        "proposal_id": str(e.proposal_no),  # the wire names proposals by string id
        "by": e.proposed_by,
        "contractor_amount": e.contractor_amount,
        "employer_amount": e.employer_amount,
        "currency": e.currency,
    }


def _escalated(e: facts.DisputeEscalated, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.DisputeEscalated, {"cause": e.cause}


def _verdict(e: facts.VerdictIssued, extra: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.VerdictIssued, {
        "kind": e.kind,
        "contractor_amount": e.contractor_amount,
        "employer_amount": e.employer_amount,
        "currency": e.currency,
        "rationale": extra.get("rationale", ""),
    }


def _reminder(e: facts.DeadlineReminderDue, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.DisputeDeadlineDue, {
        "deadline": e.timer,
        "stage": "reminder",
        "due_at": e.deadline_at,
        "party": e.remind_user_id,
    }


def _missed(e: facts.DeadlineMissed, _: Fields) -> tuple[type[wire.DisputeEvent], Fields]:
    return wire.DisputeDeadlineDue, {
        "deadline": e.timer,
        "stage": "missed",
        "due_at": e.deadline_at,
        "party": e.missed_by,
    }


def _plain(model: type[wire.DisputeEvent]) -> Callable[[Any, Fields], Any]:
    return lambda _e, _x: (model, {})


MAPPING: dict[type[facts.DisputeEvent], Callable[[Any, Fields], Any]] = {
    facts.DisputeOpened: _opened,
    facts.DisputeRejected: _rejected,
    facts.StatementSubmitted: _statement,
    facts.SettlementProposed: _proposed,
    facts.DisputeEscalated: _escalated,
    facts.ArbiterAssigned: _plain(wire.ArbiterAssigned),
    facts.VerdictIssued: _verdict,
    facts.DisputeWithdrawn: _plain(wire.DisputeWithdrawn),
    facts.DisputeClosed: _plain(wire.DisputeClosed),
    facts.DeadlineReminderDue: _reminder,
    facts.DeadlineMissed: _missed,
}


def event(
    happened: facts.DisputeEvent, dispute: domain.Dispute, **extra: Any
) -> wire.DisputeEvent | None:
    """The wire event of a domain event, or None for the two without a wire type.

    `extra` carries what the command or the escrow said but the domain does not keep: a verdict's
    rationale, a rejection's message.
    """
    build = MAPPING.get(type(happened))
    if build is None:
        return None
    model, fields = build(happened, extra)
    return model(**keys(dispute), **fields)


def keys(dispute: domain.Dispute) -> Fields:
    """What every wire DisputeEvent carries: the dispute as it stands now."""
    return {
        "dispute_id": dispute.dispute_id,
        "escrow_id": dispute.escrow_id,
        "employer_id": dispute.employer_id,
        "contractor_id": dispute.contractor_id,
        "state": dispute.state,
        "version": dispute.version,
        "arbiter_id": dispute.arbiter_id,
    }
