"""A dispute as a plain, JSON-shaped dict, and back: what the repository stores and reads.

Pending events are not part of a snapshot; they leave through the outbox in the same
transaction that stores it.
"""

from datetime import datetime
from typing import Any, TypeVar

from .actors import Actor
from .evidence import Evidence, Statement
from .record import DisputeRecord
from .settlement import Proposal, Verdict
from .timeline import Timeline, TimelineEntry, freeze

R = TypeVar("R", bound=DisputeRecord)


def dump(d: DisputeRecord) -> dict[str, Any]:
    return {
        "dispute_id": d.dispute_id,
        "escrow_id": d.escrow_id,
        "state": d.state,
        "employer_id": d.employer_id,
        "contractor_id": d.contractor_id,
        "opener_role": d.opener_role,
        "opener_id": d.opener_id,
        "respondent_id": d.respondent_id,
        "reason": d.reason,
        "currency": d.currency,
        "held_amount": d.held_amount,
        "arbiter_id": d.arbiter_id,
        "verdict": d.verdict.as_dict() if d.verdict else None,
        "statements": [s.as_dict() for s in d.statements],
        "proposals": [p.as_dict() for p in d.proposals],
        "respondent_answered": d.respondent_answered,
        "negotiation_started_at": _iso(d.negotiation_started_at),
        "arbitration_started_at": _iso(d.arbitration_started_at),
        "fired_timers": sorted(d.fired_timers),
        "timeline": [entry.as_dict() for entry in d.timeline.entries],
        "version": d.version,
    }


def load(cls: type[R], data: dict[str, Any]) -> R:
    d = cls(
        dispute_id=data["dispute_id"],
        escrow_id=data["escrow_id"],
        employer_id=data["employer_id"],
        contractor_id=data["contractor_id"],
        opener_role=data["opener_role"],
        reason=data["reason"],
        currency=data["currency"],
    )
    d.state, d.held_amount, d.arbiter_id = data["state"], data["held_amount"], data["arbiter_id"]
    d.verdict = _verdict(data["verdict"]) if data["verdict"] else None
    d.statements = [_statement(s) for s in data["statements"]]
    d.proposals = [Proposal(**{**p, "at": _time(p["at"])}) for p in data["proposals"]]
    d.respondent_answered = data["respondent_answered"]
    d.negotiation_started_at = _maybe_time(data["negotiation_started_at"])
    d.arbitration_started_at = _maybe_time(data["arbitration_started_at"])
    d.fired_timers = set(data["fired_timers"])
    d.timeline = Timeline(_entry(e) for e in data["timeline"])
    d.version = data["version"]
    return d


def _verdict(v: dict[str, Any]) -> Verdict:
    return Verdict(**{**v, "at": _time(v["at"])})


def _statement(s: dict[str, Any]) -> Statement:
    evidence = tuple(Evidence(**e) for e in s["evidence"])
    return Statement(s["statement_no"], Actor(**s["author"]), s["text"], evidence, _time(s["at"]))


def _entry(e: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        e["seq"], _time(e["at"]), Actor(**e["actor"]), e["kind"], freeze(e["details"])
    )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_time(text: str | None) -> datetime | None:
    return _time(text) if text else None
