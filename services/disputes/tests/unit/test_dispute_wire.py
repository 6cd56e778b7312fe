"""The wire events the service publishes for each domain event, and how commands name proposals."""

from datetime import UTC, datetime, timedelta

import pytest
from disputes.adapters import wire
from disputes.domain import (
    ADMIN,
    ARBITER,
    CONTRACTOR,
    EMPLOYER,
    Actor,
    DeadlinePolicy,
    Dispute,
    EscrowSnapshot,
    NotFound,
)
from disputes.service_layer.commands import proposal_no
from shared.contract import disputes as contract

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
EMP, CON = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR)
POLICY = DeadlinePolicy(
    respondent_deadline=timedelta(days=1),
    respondent_reminder_before=timedelta(hours=1),
    negotiation_window=timedelta(days=2),
    arbitration_sla=timedelta(days=3),
)


def opened() -> Dispute:
    escrow = EscrowSnapshot("esc-1", "u-emp", "u-con", "delivered", "IRR")
    return Dispute.open(
        dispute_id="d-1", escrow=escrow, actor=CON, reason="not_released", statement="s", now=T0
    )


def published(dispute: Dispute, **extra: str) -> list[contract.DisputeEvent]:
    found = [wire.event(e, dispute, **extra) for e in dispute.events]
    dispute.events.clear()
    return [e for e in found if e is not None]


def test_every_wire_event_carries_the_dispute_as_it_stands_after_the_step():
    dispute = opened()
    [opening] = published(dispute)
    assert isinstance(opening, contract.DisputeOpened)
    assert (opening.opened_by, opening.opened_by_role, opening.reason) == (
        "u-con",
        "contractor",
        "not_released",
    )
    assert (opening.state, opening.version, opening.escrow_id, opening.arbiter_id) == (
        "pending",
        1,
        "esc-1",
        None,
    )
    dispute.escrow_disputed(500_000, T0)
    assert published(dispute) == []  # the escrow's own escrow-disputed announces the freeze
    dispute.propose_settlement(EMP, 100_000, T0)
    [proposal] = published(dispute)
    assert isinstance(proposal, contract.SettlementProposed)
    assert (proposal.proposal_id, proposal.by, proposal.employer_amount) == ("1", "u-emp", 400_000)
    dispute.escalate(EMP, T0)
    [escalated] = published(dispute)
    assert (escalated.cause, escalated.state, escalated.version) == (
        "party_request",
        "arbitration",
        4,
    )
    dispute.assign_arbiter(Actor("adm", ADMIN), "arb", T0)
    [assigned] = published(dispute)
    assert isinstance(assigned, contract.ArbiterAssigned)
    assert (assigned.arbiter_id, assigned.version) == ("arb", 5)
    dispute.issue_verdict(
        Actor("arb", ARBITER), contractor_amount=300_000, employer_amount=200_000, now=T0
    )
    [verdict] = published(dispute, rationale="why")
    assert isinstance(verdict, contract.VerdictIssued)
    assert (verdict.kind, verdict.contractor_amount, verdict.rationale) == (
        "arbitration",
        300_000,
        "why",
    )


def test_deadlines_become_dispute_deadline_due_with_their_stage_and_party():
    dispute = opened()
    dispute.escrow_disputed(500_000, T0)
    dispute.events.clear()
    late = T0 + timedelta(days=1)
    for timer in dispute.timers(POLICY):
        if timer.due_at <= late:
            dispute.fire(timer.kind, POLICY, late)
    reminder, missed, escalated = published(dispute)
    assert (reminder.deadline, reminder.stage, reminder.party) == (
        "respondent_reminder",
        "reminder",
        "u-emp",
    )
    assert reminder.due_at == T0 + timedelta(days=1)  # the deadline itself, not the reminder
    assert (missed.deadline, missed.stage, missed.party) == (
        "respondent_deadline",
        "missed",
        "u-emp",
    )
    assert (escalated.cause, escalated.state) == ("respondent_deadline_missed", "arbitration")


def test_a_rejection_carries_the_escrow_services_reason_and_message():
    dispute = opened()
    dispute.events.clear()
    dispute.escrow_dispute_rejected("invalid_state", T0)
    [rejected] = published(dispute, message="escrow esc-1 is released")
    assert isinstance(rejected, contract.DisputeRejected)
    assert (rejected.reason_code, rejected.message, rejected.state) == (
        "invalid_state",
        "escrow esc-1 is released",
        "rejected",
    )


def test_a_proposal_is_named_by_its_number_and_none_means_the_latest():
    dispute = opened()
    dispute.escrow_disputed(500_000, T0)
    with pytest.raises(NotFound):
        dispute.accept_settlement(EMP, proposal_no(dispute, None), T0)
    dispute.propose_settlement(CON, 100_000, T0)
    dispute.propose_settlement(CON, 200_000, T0)
    assert proposal_no(dispute, None) == 2
    assert proposal_no(dispute, "1") == 1
    with pytest.raises(NotFound):
        proposal_no(dispute, "first")
