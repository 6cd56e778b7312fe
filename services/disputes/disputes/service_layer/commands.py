"""Commands of DESIGN §5: each loads its dispute, asks the domain, saves; refusals propagate.

A refusal (`domain.DisputeRefusal`) becomes a rejected `CommandResult` with its reason code, and
the runtime rolls back everything the handler did.
"""

from __future__ import annotations

from typing import Any

from shared.contract import disputes as wire

from disputes import domain
from disputes.adapters import escrow_views
from disputes.adapters.wire import actor, evidence
from disputes.service_layer.unit import DisputeUnit


async def open_dispute(cmd: wire.OpenDispute, unit: DisputeUnit) -> str:
    """A party disputes an escrow it knows from the escrow service's snapshots."""
    if await unit.repo.get(cmd.dispute_id, lock=False) is not None:
        raise domain.InvalidState(f"dispute {cmd.dispute_id} already exists")
    escrow = await escrow_views.find(unit.session, cmd.escrow_id)  # locked: one opening at a time
    dispute = domain.Dispute.open(
        dispute_id=cmd.dispute_id,
        escrow=escrow,
        actor=actor(cmd.actor),
        reason=cmd.reason.value,
        statement=cmd.statement,
        now=unit.now,
        existing=await unit.repo.open_on_escrow(cmd.escrow_id),
    )
    await unit.save(dispute)
    return dispute.dispute_id


async def change(cmd: wire.Command, unit: DisputeUnit) -> str:
    """Every command on one existing dispute, from a statement to the verdict."""
    dispute_id: str = getattr(cmd, "dispute_id")  # noqa: B009 - every dispute command names one
    dispute = await unit.dispute(dispute_id)
    extra = apply(cmd, dispute, unit)
    await unit.save(dispute, **extra)
    return dispute.dispute_id


def apply(cmd: wire.Command, dispute: domain.Dispute, unit: DisputeUnit) -> dict[str, Any]:
    """Ask the domain; returns what the wire events need that the domain does not keep."""
    who, now = actor(cmd.actor), unit.now
    match cmd:
        case wire.SubmitStatement(text=text, evidence=items):
            dispute.submit_statement(who, text, evidence(items), now)
        case wire.ProposeSettlement(contractor_amount=amount):
            dispute.propose_settlement(who, amount, now)
        case wire.AcceptSettlement(proposal_id=proposal_id):
            dispute.accept_settlement(who, proposal_no(dispute, proposal_id), now)
        case wire.EscalateDispute():
            dispute.escalate(who, now)
        case wire.AssignArbiter(arbiter_id=arbiter_id):
            dispute.assign_arbiter(who, arbiter_id, now)
        case wire.IssueVerdict(contractor_amount=contractor, employer_amount=employer):
            dispute.issue_verdict(
                who, contractor_amount=contractor, employer_amount=employer, now=now
            )
            return {"rationale": cmd.rationale}
        case wire.WithdrawDispute():
            dispute.withdraw(who, now)
        case _:
            raise TypeError(f"no dispute change for {type(cmd).__name__}")
    return {}


def proposal_no(dispute: domain.Dispute, proposal_id: str | None) -> int:
    """The wire names a proposal by the string of its number; none means the latest one."""
    if proposal_id is None:
        return len(dispute.proposals)  # 0 when there is none: the domain answers not_found
    if not proposal_id.isdigit():
        raise domain.NotFound(f"no settlement proposal {proposal_id!r}")
    return int(proposal_id)
