"""The disputes service with the real escrow service over the real broker and databases: the
saga (freeze, reject, settle, unfreeze), negotiation, arbitration, refusals and deadlines."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from disputes.entrypoints.app import build
from prometheus_client import REGISTRY
from shared.contract import disputes as wire
from shared.contract import escrow as escrow_wire
from shared.contract.base import Actor, Role
from shared.contract.payments import PaymentPurpose, PaymentReceived
from shared.contract.results import CommandResult
from shared.testing.fixtures import eventually
from shared.testing.harness import running

pytestmark = pytest.mark.integration

DAY = 24 * 3600
OTHER_ARBITER = Actor(user_id="arb-2", role=Role.ARBITER)
STRANGER = Actor(user_id="emp-2", role=Role.EMPLOYER)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejection(result: CommandResult) -> tuple[str, str | None]:
    return (result.status, result.reason_code)


async def test_no_agreement_goes_to_an_arbiter_whose_split_verdict_settles_and_closes(suite):
    verdicts_before = sample("escrow_suite_dispute_time_to_verdict_seconds_count")
    shares_before = sample("escrow_suite_verdict_contractor_share_ratio_sum")
    await suite.funded("e-1", 1_000_000, delivered=True)
    do, employer, contractor = suite.do, suite.employer, suite.contractor
    assert (await do(suite.open("d-1", "e-1"))).accepted
    opened = (await suite.wait_events("dispute-opened", "d-1"))[0]
    assert (opened["opened_by"], opened["opened_by_role"], opened["state"]) == (
        "con-1",
        "contractor",
        "pending",
    )
    assert (await suite.dispute_state("d-1", "negotiation"))["dispute"]["held_amount"] == 1_000_000
    await suite.escrow_state("e-1", "disputed")

    propose = wire.ProposeSettlement
    assert (
        await do(propose(actor=contractor, dispute_id="d-1", contractor_amount=900_000))
    ).accepted
    assert (await do(propose(actor=employer, dispute_id="d-1", contractor_amount=300_000))).accepted
    assert (await do(wire.EscalateDispute(actor=employer, dispute_id="d-1"))).accepted
    escalated = (await suite.wait_events("dispute-escalated", "d-1"))[0]
    assert (escalated["cause"], escalated["state"]) == ("party_request", "arbitration")

    split = {"contractor_amount": 600_000, "employer_amount": 400_000}
    early = await do(wire.IssueVerdict(actor=suite.arbiter, dispute_id="d-1", **split))
    assert rejection(early) == ("rejected", "forbidden")  # not assigned yet
    assert (
        await do(wire.AssignArbiter(actor=suite.admin, dispute_id="d-1", arbiter_id="arb-1"))
    ).accepted
    for intruder in (OTHER_ARBITER, employer, contractor, suite.admin):
        refused = await do(wire.IssueVerdict(actor=intruder, dispute_id="d-1", **split))
        assert rejection(refused) == ("rejected", "forbidden"), intruder
    uneven = await do(
        wire.IssueVerdict(
            actor=suite.arbiter, dispute_id="d-1", contractor_amount=600_000, employer_amount=1
        )
    )
    assert rejection(uneven) == ("rejected", "invalid_amount")

    suite.clock.advance(timedelta(hours=2))
    decided = wire.IssueVerdict(
        actor=suite.arbiter, dispute_id="d-1", rationale="delivered late, mostly done", **split
    )
    assert (await do(decided)).accepted
    verdict = (await suite.wait_events("verdict-issued", "d-1"))[0]
    assert (verdict["kind"], verdict["arbiter_id"], verdict["rationale"]) == (
        "arbitration",
        "arb-1",
        "delivered late, mostly done",
    )
    closed = (await suite.wait_events("dispute-closed", "d-1"))[0]
    assert closed["state"] == "closed"

    settled = (await suite.wait_events("escrow-settled", "d-1"))[0]
    assert (
        settled["dispute_id"],
        settled["contractor_amount"],
        settled["fee"],
        settled["contractor_net"],
        settled["employer_amount"],
    ) == ("d-1", 600_000, 60_000, 540_000, 400_000)  # 10% of the contractor's share only
    escrow = (await suite.escrow_state("e-1", "settled"))["escrow"]
    assert escrow["held"] == 0

    view = (await suite.dispute_state("d-1", "closed"))["dispute"]
    assert [entry["kind"] for entry in view["timeline"]] == [
        "opened",
        "escrow_frozen",
        "settlement_proposed",
        "settlement_proposed",
        "escalated",
        "arbiter_assigned",
        "verdict_issued",
        "closed",
    ]
    assert view["verdict"]["contractor_amount"] == 600_000
    events = [
        e.data
        for topic in ("dispute-opened", "settlement-proposed", "dispute-escalated")
        for e in suite.watcher.events(topic)
    ]
    assert all(e["employer_id"] == "emp-1" and e["contractor_id"] == "con-1" for e in events)
    assert closed["version"] == len(view["timeline"])

    for query in ("escrow_id=e-1", "party=con-1", "party=emp-1", "arbiter=arb-1", "state=closed"):
        listed = (await suite.read(suite.disputes, f"/disputes?{query}")).json()["disputes"]
        assert [d["dispute_id"] for d in listed] == ["d-1"], query
    assert (await suite.read(suite.disputes, "/disputes?state=pending")).json()["disputes"] == []
    assert (await suite.read(suite.disputes, "/disputes/nope")).status_code == 404

    count = sample("escrow_suite_dispute_time_to_verdict_seconds_count")
    assert count - verdicts_before == 1
    share = sample("escrow_suite_verdict_contractor_share_ratio_sum") - shares_before
    assert share == pytest.approx(0.6)


async def test_an_accepted_proposal_settles_without_an_arbiter(suite):
    await suite.funded("e-a", 500_000)
    opening = suite.open("d-a", "e-a", by=suite.employer)
    assert (await suite.do(opening)).accepted
    await suite.dispute_state("d-a", "negotiation")
    offer = wire.ProposeSettlement(
        actor=suite.contractor, dispute_id="d-a", contractor_amount=200_000
    )
    assert (await suite.do(offer)).accepted
    proposed = (await suite.wait_events("settlement-proposed", "d-a"))[0]
    assert (proposed["proposal_id"], proposed["employer_amount"]) == ("1", 300_000)
    own = wire.AcceptSettlement(actor=suite.contractor, dispute_id="d-a", proposal_id="1")
    assert rejection(await suite.do(own)) == ("rejected", "forbidden")
    accept = wire.AcceptSettlement(actor=suite.employer, dispute_id="d-a", proposal_id="1")
    assert (await suite.do(accept)).accepted

    verdict = (await suite.wait_events("verdict-issued", "d-a"))[0]
    assert (verdict["kind"], verdict["arbiter_id"], verdict["state"]) == (
        "agreement",
        None,
        "negotiation",
    )
    await suite.wait_events("dispute-closed", "d-a")
    settled = (await suite.wait_events("escrow-settled", "d-a"))[0]
    assert (settled["verdict_kind"], settled["contractor_net"], settled["employer_amount"]) == (
        "agreement",
        180_000,
        300_000,
    )
    escrow = (await suite.escrow_state("e-a", "settled"))["escrow"]
    assert (escrow["held"], escrow["fees_charged"]) == (0, 20_000)
    view = (await suite.dispute_state("d-a", "closed"))["dispute"]
    assert view["arbiter_id"] is None and view["verdict"]["kind"] == "agreement"
    assert suite.events("arbiter-assigned", "d-a") == []


async def test_a_withdrawal_unfreezes_the_escrow_and_release_works_again(suite):
    await suite.funded("e-w", 100_000, delivered=True)
    assert (await suite.do(suite.open("d-w", "e-w"))).accepted
    await suite.dispute_state("d-w", "negotiation")
    await suite.escrow_state("e-w", "disputed")
    by_respondent = wire.WithdrawDispute(actor=suite.employer, dispute_id="d-w")
    assert rejection(await suite.do(by_respondent)) == ("rejected", "forbidden")
    assert (await suite.do(wire.WithdrawDispute(actor=suite.contractor, dispute_id="d-w"))).accepted
    withdrawn = (await suite.wait_events("dispute-withdrawn", "d-w"))[0]
    assert withdrawn["state"] == "withdrawn"
    await suite.escrow_state("e-w", "delivered")
    release = escrow_wire.ReleaseEscrow(actor=suite.employer, escrow_id="e-w")
    assert (await suite.do(release)).accepted
    await suite.escrow_state("e-w", "released")
    late = await suite.do(wire.SubmitStatement(actor=suite.contractor, dispute_id="d-w", text="x"))
    assert rejection(late) == ("rejected", "invalid_state")


async def test_a_dispute_withdrawn_while_pending_never_leaves_the_escrow_frozen(suite):
    await suite.funded("e-p", 100_000, delivered=True)
    # Held back, the opening and the withdrawal reach the escrow service together, on two topics:
    # in either order the escrow must end unfrozen.
    await suite.disputes.relay.stop()
    await suite.client.send(suite.open("d-p", "e-p"))
    await suite.dispute_state("d-p", "pending")
    await suite.client.send(wire.WithdrawDispute(actor=suite.contractor, dispute_id="d-p"))
    await suite.dispute_state("d-p", "withdrawn")
    suite.disputes.relay.start()

    def unfrozen() -> bool:
        return any(e.data["dispute_id"] == "d-p" for e in suite.watcher.events("escrow-unfrozen"))

    await suite.watcher.wait_for(unfrozen)
    await suite.escrow_state("e-p", "delivered")
    release = escrow_wire.ReleaseEscrow(actor=suite.employer, escrow_id="e-p")
    assert (await suite.do(release)).accepted


async def test_a_dispute_that_loses_the_race_to_a_release_ends_rejected(suite):
    await suite.funded("e-r", 100_000, delivered=True)
    # The escrow service releases but has not yet announced it: its outbox is held back, so the
    # disputes service still sees the escrow as delivered — the race of DESIGN §5.
    await suite.escrow.relay.stop()
    await suite.client.send(escrow_wire.ReleaseEscrow(actor=suite.employer, escrow_id="e-r"))
    await suite.escrow_state("e-r", "released")
    assert (await suite.do(suite.open("d-r", "e-r"))).accepted
    suite.escrow.relay.start()

    rejected = (await suite.wait_events("dispute-rejected", "d-r"))[0]
    assert (rejected["reason_code"], rejected["state"]) == ("invalid_state", "rejected")
    assert "released" in rejected["message"]
    view = (await suite.dispute_state("d-r", "rejected"))["dispute"]
    assert view["timeline"][-1]["details"] == {"reason": "invalid_state"}
    await suite.known("e-r", "released")
    again = await suite.do(suite.open("d-r2", "e-r"))
    assert rejection(again) == ("rejected", "invalid_state")  # now known to be released
    assert (await suite.escrow_state("e-r", "released"))["escrow"]["released_amount"] == 100_000


async def test_refusals_carry_their_reason_codes(suite):
    await suite.funded("e-x", 100_000)
    assert (await suite.do(suite.open("d-x", "e-x"))).accepted
    second = await suite.do(suite.open("d-x2", "e-x", by=suite.employer))
    assert rejection(second) == ("rejected", "dispute_already_open")
    reused = await suite.do(suite.open("d-x", "e-x"))
    assert rejection(reused) == ("rejected", "invalid_state")

    await suite.publish(
        PaymentReceived(
            payment_id="pay-direct",
            purpose=PaymentPurpose.DIRECT,
            payer_id="emp-1",
            payee_id="con-1",
            amount=50_000,
            currency="IRR",
            gateway="sandbox",
            reference="ref",
            guaranteed=False,
        )
    )
    direct = await suite.do(suite.open("d-direct", "pay-direct"))
    assert rejection(direct) == ("rejected", "not_escrowed")

    await suite.contract("c-e-unpaid")
    assert (await suite.create("e-unpaid", 10_000)).accepted
    await suite.known("e-unpaid", "awaiting_payment")
    unpaid = await suite.do(suite.open("d-unpaid", "e-unpaid"))
    assert rejection(unpaid) == ("rejected", "invalid_state")
    stranger = await suite.do(suite.open("d-stranger", "e-unpaid", by=STRANGER))
    assert rejection(stranger) == ("rejected", "forbidden")
    missing = wire.SubmitStatement(actor=suite.contractor, dispute_id="d-none", text="hello")
    assert rejection(await suite.do(missing)) == ("rejected", "not_found")

    listed = (await suite.read(suite.disputes, "/disputes?escrow_id=e-x")).json()["disputes"]
    assert [d["dispute_id"] for d in listed] == ["d-x"]
    assert suite.events("dispute-opened", "d-x2") == []


async def test_a_deadline_due_while_the_service_is_down_fires_once_after_restart(
    suite, disputes_settings
):
    missed_before = sample(
        "escrow_suite_dispute_deadlines_missed_total", deadline="respondent_deadline"
    )
    await suite.funded("e-t", 100_000, delivered=True)
    assert (await suite.do(suite.open("d-t", "e-t"))).accepted
    negotiating = await suite.dispute_state("d-t", "negotiation")
    assert [t["kind"] for t in negotiating["timers"]] == [
        "respondent_reminder",
        "respondent_deadline",
        "negotiation_window_end",
    ]
    await suite.disputes.app().stop()  # the service goes down…
    suite.clock.advance(timedelta(seconds=DAY + 1))  # …and the employer's deadline passes
    for _ in range(2):  # two restarts: the timers fire on the first, never again
        async with running(build(disputes_settings, clock=suite.clock)) as suite.disputes:
            await suite.wait_events("dispute-escalated", "d-t")
            await asyncio.sleep(0.5)

            async def counted() -> bool:  # the deadline loop refreshes the gauge
                return sample("escrow_suite_disputes", state="arbitration") == 1

            await eventually(counted)
    due = suite.events("dispute-deadline-due", "d-t")
    assert [(d["deadline"], d["stage"], d["party"]) for d in due] == [
        ("respondent_reminder", "reminder", "emp-1"),
        ("respondent_deadline", "missed", "emp-1"),
    ]
    escalations = suite.events("dispute-escalated", "d-t")
    assert [(e["cause"], e["state"]) for e in escalations] == [
        ("respondent_deadline_missed", "arbitration")
    ]
    missed = sample("escrow_suite_dispute_deadlines_missed_total", deadline="respondent_deadline")
    assert missed - missed_before == 1
    view = await suite.dispute_state("d-t", "arbitration")  # read API of the stopped service
    assert [(t["kind"], t["fired_at"] is not None) for t in view["timers"]] == [
        ("respondent_reminder", True),
        ("respondent_deadline", True),
        ("arbitration_sla_reminder", False),
    ]
