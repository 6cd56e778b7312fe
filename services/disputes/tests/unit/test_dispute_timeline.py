"""The timeline: one entry per accepted step, in order, never rewritten; and the snapshot."""

import json
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from disputes.domain import (
    ADMIN,
    ARBITER,
    CONTRACTOR,
    EMPLOYER,
    SYSTEM,
    Actor,
    DeadlinePolicy,
    Dispute,
    DisputeRefusal,
    Evidence,
)
from disputes.domain.events import DisputeEvent

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HELD = 1_000_000
EMP, CON = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR)
ADM, SYS = Actor("u-admin", ADMIN), Actor("system", SYSTEM)
At = Callable[[int], datetime]
Builder = Callable[..., Dispute]
Refused = Callable[..., DisputeRefusal]
Step = tuple[str, Callable[[Dispute], object]]
Steps = Callable[[], list[Step]]
SHA = "0f" * 32
PROOF = Evidence("chat.png", "image/png", SHA, "https://files.example/chat.png")


@pytest.fixture(scope="session")
def journey(at: At) -> Steps:
    def journey() -> list[Step]:
        """A dispute's life, step by step, each with the timeline kind it must add."""
        return [
            ("escrow_frozen", lambda d: d.escrow_disputed(HELD, at(1))),
            ("statement_submitted", lambda d: d.submit_statement(CON, "delivered", [PROOF], at(2))),
            ("settlement_proposed", lambda d: d.propose_settlement(EMP, 200_000, at(3))),
            ("settlement_proposed", lambda d: d.propose_settlement(CON, 800_000, at(4))),
            ("escalated", lambda d: d.escalate(EMP, at(5))),
            ("arbiter_assigned", lambda d: d.assign_arbiter(ADM, "u-arb", at(6))),
            ("arbiter_assigned", lambda d: d.assign_arbiter(ADM, "u-arb-2", at(7))),
            ("statement_submitted", lambda d: d.submit_statement(EMP, "late", [], at(8))),
            (
                "verdict_issued",
                lambda d: d.issue_verdict(
                    Actor("u-arb-2", ARBITER),
                    contractor_amount=600_000,
                    employer_amount=400_000,
                    now=at(9),
                ),
            ),
            ("closed", lambda d: d.escrow_settled(at(10))),
        ]

    return journey


@pytest.fixture(scope="session")
def refusals(at: At) -> Steps:
    def refusals() -> list[Step]:
        """Commands that are refused at every point of the journey."""
        return [
            ("forbidden", lambda d: d.withdraw(CON, at(50))),
            ("forbidden", lambda d: d.submit_statement(ADM, "x", [], at(50))),
            (
                "forbidden",
                lambda d: d.issue_verdict(
                    Actor("u-arb-3", ARBITER), contractor_amount=HELD, employer_amount=0, now=at(50)
                ),
            ),
            ("forbidden", lambda d: d.assign_arbiter(EMP, "u-arb", at(50))),
        ]

    return refusals


def test_every_accepted_step_adds_exactly_one_entry_and_refusals_add_none(
    opened: Builder, journey: Steps, refusals: Steps, at: At, refused: Refused
) -> None:
    dispute = opened()
    for kind, step in journey():
        before = dispute.timeline.entries
        for code, refusal in refusals():
            refused(dispute, code, partial(refusal, dispute))
        step(dispute)
        after = dispute.timeline.entries
        assert len(after) == len(before) + 1 and after[:-1] == before
        assert after[-1].kind == kind and after[-1].seq == len(after) == dispute.version
    assert [e.seq for e in dispute.timeline.entries] == list(range(1, 12))
    assert [e.at for e in dispute.timeline.entries] == [T0, *(at(m) for m in range(1, 11))]


def test_entries_name_who_acted(opened: Builder, journey: Steps) -> None:
    dispute = opened()
    for _, step in journey():
        step(dispute)
    actors = [e.actor for e in dispute.timeline.entries]
    assert actors == [EMP, SYS, CON, EMP, CON, EMP, ADM, ADM, EMP, Actor("u-arb-2", ARBITER), SYS]


def test_entries_carry_the_facts_of_each_step(opened: Builder, journey: Steps) -> None:
    dispute = opened()
    for _, step in journey():
        step(dispute)
    details = [e.as_dict()["details"] for e in dispute.timeline.entries]
    assert details[0]["reason"] == "quality" and details[0]["statement"]["text"] == "broken"
    assert details[1] == {"held_amount": HELD, "currency": "IRR"}
    assert details[2]["evidence"] == [
        {
            "name": "chat.png",
            "media_type": "image/png",
            "sha256": SHA,
            "uri": "https://files.example/chat.png",
        }
    ]
    assert details[4]["contractor_amount"] == 800_000 and details[4]["employer_amount"] == 200_000
    assert details[7] == {"arbiter_id": "u-arb-2", "previous_arbiter_id": "u-arb"}
    assert details[9]["kind"] == "arbitration" and details[9]["arbiter_id"] == "u-arb-2"


def test_entries_cannot_be_modified(negotiating: Builder, at: At) -> None:
    dispute = negotiating()
    dispute.submit_statement(CON, "delivered", [PROOF], at(2))
    entry = dispute.timeline.entries[-1]
    with pytest.raises(FrozenInstanceError):
        entry.kind = "rewritten"  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.details["text"] = "rewritten"  # type: ignore[index]
    with pytest.raises(AttributeError):
        entry.details["evidence"].append("forged")
    copy = entry.as_dict()
    copy["details"]["text"] = "rewritten"
    assert dispute.timeline.entries[-1].details["text"] == "delivered"
    assert not hasattr(dispute.timeline, "remove") and isinstance(dispute.timeline.entries, tuple)


def test_details_are_copied_when_recorded(negotiating: Builder, at: At) -> None:
    dispute = negotiating()
    evidence = [PROOF]
    dispute.submit_statement(CON, "delivered", evidence, at(2))
    evidence.append(PROOF)
    assert len(dispute.timeline.entries[-1].details["evidence"]) == 1


def test_every_event_names_its_dispute_and_escrow(opened: Builder, journey: Steps) -> None:
    dispute = opened()
    for _, step in journey():
        step(dispute)
    assert len(dispute.events) == 11  # one per step on this path
    assert {(e.dispute_id, e.escrow_id) for e in dispute.events} == {("d-1", "esc-1")}
    assert all(isinstance(e, DisputeEvent) for e in dispute.events)


def test_a_snapshot_is_plain_json_and_restores_the_same_dispute(
    opened: Builder, journey: Steps
) -> None:
    dispute = opened()
    for _, step in journey()[:6]:
        step(dispute)
    data = dispute.snapshot()
    assert json.loads(json.dumps(data)) == data
    assert data["state"] == "arbitration" and data["version"] == 7
    restored = Dispute.from_snapshot(json.loads(json.dumps(data)))
    assert restored.snapshot() == data and restored.events == []
    assert restored.timeline.entries == dispute.timeline.entries
    for _, step in journey()[6:]:
        step(restored)
    assert restored.state == "closed" and restored.version == 11


def test_a_restored_dispute_keeps_its_fired_timers(negotiating: Builder, at: At) -> None:
    dispute = negotiating()
    policy = DeadlinePolicy(
        timedelta(hours=1), timedelta(minutes=30), timedelta(days=1), timedelta(days=1)
    )
    assert dispute.fire("respondent_reminder", policy, at(31))
    restored = Dispute.from_snapshot(dispute.snapshot())
    assert not restored.fire("respondent_reminder", policy, at(40))
    assert [t.kind for t in restored.timers(policy)] == [
        "respondent_deadline",
        "negotiation_window_end",
    ]
