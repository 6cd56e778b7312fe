"""Deadlines: the timers a dispute waits on, firing once, and late timers being harmless."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from disputes.domain import (
    ARBITER,
    CONTRACTOR,
    EMPLOYER,
    Actor,
    Dispute,
    DisputeRefusal,
)
from disputes.domain.deadline_policy import (
    ARBITRATION_SLA_REMINDER,
    NEGOTIATION_WINDOW_END,
    RESPONDENT_DEADLINE,
    RESPONDENT_REMINDER,
    DeadlinePolicy,
    Timer,
)
from disputes.domain.events import DeadlineMissed, DeadlineReminderDue, DisputeEscalated

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HELD = 1_000_000
EMP, CON, ARB = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR), Actor("u-arb", ARBITER)
At = Callable[[int], datetime]
Builder = Callable[..., Dispute]
Refused = Callable[..., DisputeRefusal]

POLICY = DeadlinePolicy(
    respondent_deadline=timedelta(hours=72),
    respondent_reminder_before=timedelta(hours=24),
    negotiation_window=timedelta(days=7),
    arbitration_sla=timedelta(days=5),
)
STARTED = T0 + timedelta(minutes=1)  # negotiating() enters negotiation at at(1)
REMINDER_AT = STARTED + timedelta(hours=48)
DEADLINE_AT = STARTED + timedelta(hours=72)
WINDOW_END = STARTED + timedelta(days=7)


def fire(dispute: Dispute, kind: str, now: datetime) -> bool:
    return dispute.fire(kind, POLICY, now)


def test_a_pending_dispute_waits_on_no_timer(opened: Builder) -> None:
    assert opened().timers(POLICY) == []


def test_negotiation_schedules_the_respondent_timers_and_the_window_end(
    negotiating: Builder,
) -> None:
    assert negotiating().timers(POLICY) == [
        Timer(RESPONDENT_REMINDER, REMINDER_AT),
        Timer(RESPONDENT_DEADLINE, DEADLINE_AT),
        Timer(NEGOTIATION_WINDOW_END, WINDOW_END),
    ]


@pytest.mark.parametrize("answer", ["statement", "proposal"])
def test_the_respondents_answer_cancels_his_timers(
    answer: str, negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    if answer == "statement":
        dispute.submit_statement(CON, "it was delivered", [], at(5))
    else:
        dispute.propose_settlement(CON, 500_000, at(5))
    assert dispute.timers(POLICY) == [Timer(NEGOTIATION_WINDOW_END, WINDOW_END)]
    version = dispute.version
    assert not fire(dispute, RESPONDENT_REMINDER, REMINDER_AT)
    assert not fire(dispute, RESPONDENT_DEADLINE, DEADLINE_AT)
    assert dispute.version == version and dispute.state == "negotiation"


def test_the_openers_own_statements_do_not_count_as_an_answer(negotiating: Builder, at: At) -> None:
    dispute = negotiating()
    dispute.submit_statement(EMP, "still waiting", [], at(5))
    dispute.propose_settlement(EMP, 0, at(6))
    assert [t.kind for t in dispute.timers(POLICY)][:2] == [
        RESPONDENT_REMINDER,
        RESPONDENT_DEADLINE,
    ]


def test_the_reminder_fires_once_and_names_the_deadline(negotiating: Builder) -> None:
    dispute = negotiating()
    assert fire(dispute, RESPONDENT_REMINDER, REMINDER_AT + timedelta(seconds=5))
    assert dispute.events[-1] == DeadlineReminderDue(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=REMINDER_AT + timedelta(seconds=5),
        timer=RESPONDENT_REMINDER,
        remind_user_id="u-con",
        deadline_at=DEADLINE_AT,
    )
    assert (dispute.version, dispute.timeline.entries[-1].kind) == (3, "respondent_reminded")
    snapshot = dispute.snapshot()
    assert not fire(dispute, RESPONDENT_REMINDER, REMINDER_AT + timedelta(hours=1))
    assert dispute.snapshot() == snapshot
    assert RESPONDENT_REMINDER not in [t.kind for t in dispute.timers(POLICY)]


def test_a_timer_fired_early_is_refused(negotiating: Builder, refused: Refused) -> None:
    dispute = negotiating()
    for kind, due in [
        (RESPONDENT_REMINDER, REMINDER_AT),
        (RESPONDENT_DEADLINE, DEADLINE_AT),
        (NEGOTIATION_WINDOW_END, WINDOW_END),
    ]:
        refused(
            dispute,
            "invalid_state",
            partial(fire, dispute, kind, due - timedelta(seconds=1)),
        )


def test_a_missed_respondent_deadline_escalates_to_arbitration(negotiating: Builder) -> None:
    dispute = negotiating()
    assert fire(dispute, RESPONDENT_DEADLINE, DEADLINE_AT)
    assert (dispute.state, dispute.arbitration_started_at, dispute.version) == (
        "arbitration",
        DEADLINE_AT,
        3,
    )
    keys: dict[str, Any] = {"dispute_id": "d-1", "escrow_id": "esc-1", "at": DEADLINE_AT}
    assert dispute.events[-2:] == [
        DeadlineMissed(
            **keys, timer=RESPONDENT_DEADLINE, missed_by="u-con", deadline_at=DEADLINE_AT
        ),
        DisputeEscalated(
            **keys, by="system", cause="respondent_deadline_missed", requested_by=None
        ),
    ]
    assert dispute.timers(POLICY) == [Timer(ARBITRATION_SLA_REMINDER, DEADLINE_AT + timedelta(5))]
    for kind in (RESPONDENT_REMINDER, RESPONDENT_DEADLINE, NEGOTIATION_WINDOW_END):
        assert not fire(dispute, kind, WINDOW_END + timedelta(days=1))
    assert dispute.version == 3


def test_the_negotiation_window_end_escalates_even_after_an_answer(
    negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    dispute.submit_statement(CON, "answer", [], at(5))
    assert fire(dispute, NEGOTIATION_WINDOW_END, WINDOW_END)
    assert dispute.state == "arbitration"
    assert dispute.events[-1] == DisputeEscalated(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=WINDOW_END,
        by="system",
        cause="negotiation_window_ended",
        requested_by=None,
    )
    assert not fire(dispute, NEGOTIATION_WINDOW_END, WINDOW_END)


def test_the_arbitration_sla_reminder_fires_once_for_the_assigned_arbiter(
    arbitrating: Builder, at: At
) -> None:
    dispute = arbitrating()  # escalated at at(2)
    due = at(2) + timedelta(days=5)
    assert dispute.timers(POLICY) == [Timer(ARBITRATION_SLA_REMINDER, due)]
    assert fire(dispute, ARBITRATION_SLA_REMINDER, due)
    assert dispute.events[-1] == DeadlineReminderDue(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=due,
        timer=ARBITRATION_SLA_REMINDER,
        remind_user_id="u-arb",
        deadline_at=due,
    )
    assert dispute.timers(POLICY) == []
    assert not fire(dispute, ARBITRATION_SLA_REMINDER, due + timedelta(days=1))


def test_the_sla_reminder_without_an_arbiter_goes_to_the_admins(
    arbitrating: Builder, at: At
) -> None:
    dispute = arbitrating(arbiter=None)
    assert fire(dispute, ARBITRATION_SLA_REMINDER, at(2) + timedelta(days=6))
    reminder = dispute.events[-1]
    assert isinstance(reminder, DeadlineReminderDue) and reminder.remind_user_id is None


@pytest.fixture(scope="session")
def settled(arbitrating: Builder, at: At) -> Builder:
    def settled() -> Dispute:
        dispute = arbitrating()
        dispute.issue_verdict(ARB, contractor_amount=1, employer_amount=HELD - 1, now=at(10))
        return dispute

    return settled


@pytest.fixture(scope="session")
def withdrawn(negotiating: Builder, at: At) -> Builder:
    def withdrawn() -> Dispute:
        dispute = negotiating()
        dispute.withdraw(EMP, at(10))
        return dispute

    return withdrawn


@pytest.fixture(scope="session")
def agreed(negotiating: Builder, at: At) -> Builder:
    def agreed() -> Dispute:
        dispute = negotiating()
        dispute.propose_settlement(CON, 1, at(5))
        dispute.accept_settlement(EMP, 1, at(6))
        return dispute

    return agreed


@pytest.mark.parametrize("build", ["settled", "withdrawn", "agreed", "opened"])
def test_late_timers_are_harmless(build: str, request: pytest.FixtureRequest, at: At) -> None:
    dispute = request.getfixturevalue(build)()
    snapshot, events = dispute.snapshot(), list(dispute.events)
    assert dispute.timers(POLICY) == []
    for kind in (
        RESPONDENT_REMINDER,
        RESPONDENT_DEADLINE,
        NEGOTIATION_WINDOW_END,
        ARBITRATION_SLA_REMINDER,
    ):
        assert not fire(dispute, kind, at(60 * 24 * 30))
    assert (dispute.snapshot(), dispute.events) == (snapshot, events)


def test_an_unknown_timer_is_malformed(negotiating: Builder, refused: Refused) -> None:
    dispute = negotiating()
    refused(dispute, "malformed", lambda: fire(dispute, "coffee_break", WINDOW_END))


def test_timers_follow_the_current_policy(negotiating: Builder, refused: Refused) -> None:
    dispute = negotiating()
    longer = DeadlinePolicy(
        timedelta(hours=96), timedelta(hours=24), timedelta(days=10), timedelta(days=5)
    )
    assert dispute.timers(longer)[1] == Timer(RESPONDENT_DEADLINE, STARTED + timedelta(hours=96))
    refused(
        dispute, "invalid_state", lambda: dispute.fire(RESPONDENT_DEADLINE, longer, DEADLINE_AT)
    )


@pytest.mark.parametrize(
    "durations",
    [
        (72, 72, 168, 120),
        (72, 80, 168, 120),
        (0, 0, 168, 120),
        (72, 0, 168, 120),
        (72, 24, 0, 120),
        (72, 24, 168, -1),
    ],
)
def test_unsafe_deadline_settings_are_rejected(durations: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match=r"deadline|reminder"):
        DeadlinePolicy(*(timedelta(hours=h) for h in durations))
