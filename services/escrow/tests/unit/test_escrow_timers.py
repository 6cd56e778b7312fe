"""The escrow's timers: payment expiry, release reminders and the optional auto-release. Each
fires only when due and only while it applies, so a late or repeated timer changes nothing."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from escrow.domain import (
    Actor,
    Escrow,
    EscrowRefusal,
    EscrowReleased,
    EscrowState,
    FeePolicy,
    ReleaseReminderDue,
    Timer,
    TimerKind,
    TimerPolicy,
)

T1 = datetime(2025, 3, 1, 9, 1, tzinfo=UTC)  # when the conftest world's escrows were funded
DAY = timedelta(days=1)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
POLICY = TimerPolicy(payment_expiry=2 * DAY, release_reminder_every=DAY)
AUTO = TimerPolicy(payment_expiry=2 * DAY, release_reminder_every=DAY, auto_release_after=7 * DAY)
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")
RefusalCheck = Callable[[Escrow, str, Callable[[], object]], EscrowRefusal]


def delivered_at(escrow_in: Callable[[str], Escrow], when: datetime) -> Escrow:
    escrow = escrow_in("funded")
    escrow.deliver(CONTRACTOR, when)
    return escrow


def test_an_unpaid_escrow_expires_at_its_due_time(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("awaiting_payment")
    due = escrow.payment_due_at
    assert due is not None
    assert escrow.timers(POLICY) == [Timer(TimerKind.PAYMENT_EXPIRY, due)]

    refused(escrow, "invalid_state", lambda: escrow.expire_payment(due - timedelta(seconds=1)))
    escrow.expire_payment(due)

    assert escrow.state == EscrowState.CANCELLED
    assert escrow.timers(POLICY) == []
    refused(escrow, "invalid_state", lambda: escrow.expire_payment(due))


def test_acceptance_starts_the_payment_clock(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("requested")
    assert escrow.timers(POLICY) == []
    accepted_at = T1 + 5 * DAY
    escrow.accept_request(EMPLOYER, accepted_at, POLICY)
    assert escrow.timers(POLICY) == [Timer(TimerKind.PAYMENT_EXPIRY, accepted_at + 2 * DAY)]


def test_a_paid_escrow_no_longer_expires(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("funded")
    assert escrow.timers(AUTO) == []
    refused(escrow, "invalid_state", lambda: escrow.expire_payment(T1 + 30 * DAY))


def test_delivered_work_gets_reminders_and_maybe_an_auto_release(
    escrow_in: Callable[[str], Escrow],
) -> None:
    escrow = delivered_at(escrow_in, T1)
    assert escrow.timers(POLICY) == [Timer(TimerKind.RELEASE_REMINDER, T1 + DAY)]
    assert escrow.timers(AUTO) == [
        Timer(TimerKind.RELEASE_REMINDER, T1 + DAY),
        Timer(TimerKind.AUTO_RELEASE, T1 + 7 * DAY),
    ]


def test_reminders_repeat_while_the_work_waits(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = delivered_at(escrow_in, T1)
    refused(escrow, "invalid_state", lambda: escrow.remind_release(T1 + DAY / 2, POLICY))

    fired_at = T1 + DAY + timedelta(hours=3)  # a late timer counts from when it fired
    assert escrow.remind_release(fired_at, POLICY) == fired_at + DAY
    assert escrow.events[-1] == ReleaseReminderDue(escrow.snapshot(), T1, fired_at + DAY)
    assert escrow.timers(POLICY) == [Timer(TimerKind.RELEASE_REMINDER, fired_at + DAY)]
    # The same timer delivered twice: the second finds nothing due.
    refused(escrow, "invalid_state", lambda: escrow.remind_release(fired_at, POLICY))
    escrow.remind_release(fired_at + DAY, POLICY)


def test_a_partial_release_keeps_the_reminders(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = delivered_at(escrow_in, T1)
    escrow.release(EMPLOYER, T1, FEES, 1_000)
    assert escrow.timers(POLICY) == [Timer(TimerKind.RELEASE_REMINDER, T1 + DAY)]


@pytest.mark.parametrize("end", ["release", "request_changes", "dispute", "refund"])
def test_reminders_stop_when_the_work_no_longer_waits(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, end: str
) -> None:
    escrow = delivered_at(escrow_in, T1)
    ends: dict[str, Callable[[], object]] = {
        "release": lambda: escrow.release(EMPLOYER, T1, FEES),
        "request_changes": lambda: escrow.request_changes(EMPLOYER, T1),
        "dispute": lambda: escrow.open_dispute("d-1", T1),
        "refund": lambda: escrow.refund(CONTRACTOR, T1),
    }
    ends[end]()
    assert escrow.timers(AUTO) == []
    refused(escrow, "invalid_state", lambda: escrow.remind_release(T1 + 30 * DAY, AUTO))
    refused(escrow, "invalid_state", lambda: escrow.auto_release(T1 + 30 * DAY, FEES, AUTO))


def test_redelivery_restarts_the_clocks(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = delivered_at(escrow_in, T1)
    escrow.request_changes(EMPLOYER, T1 + DAY)
    escrow.deliver(CONTRACTOR, T1 + 3 * DAY)
    assert escrow.timers(AUTO) == [
        Timer(TimerKind.RELEASE_REMINDER, T1 + 4 * DAY),
        Timer(TimerKind.AUTO_RELEASE, T1 + 10 * DAY),
    ]


def test_a_withdrawn_dispute_resumes_the_reminders(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = delivered_at(escrow_in, T1)
    escrow.open_dispute("d-1", T1)
    escrow.withdraw_dispute("d-1", T1 + 3 * DAY)
    assert escrow.timers(POLICY) == [Timer(TimerKind.RELEASE_REMINDER, T1 + DAY)]


def test_auto_release_is_off_by_default(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = delivered_at(escrow_in, T1)
    assert TimerPolicy().auto_release_after is None
    refused(escrow, "invalid_state", lambda: escrow.auto_release(T1 + 365 * DAY, FEES, POLICY))


def test_auto_release_pays_everything_held_once_due(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = delivered_at(escrow_in, T1)
    escrow.release(EMPLOYER, T1, FEES, 40_000)
    due = T1 + 7 * DAY
    refused(escrow, "invalid_state", lambda: escrow.auto_release(due - timedelta(1), FEES, AUTO))

    escrow.auto_release(due, FEES, AUTO)

    assert escrow.events[-1] == EscrowReleased(escrow.snapshot(), 60_000, 6_000, 54_000, True)
    assert (escrow.state, escrow.held, escrow.fees_charged) == (EscrowState.RELEASED, 0, 10_000)
    refused(escrow, "invalid_state", lambda: escrow.auto_release(due, FEES, AUTO))


@pytest.mark.parametrize(
    "settings",
    [
        {"payment_expiry": timedelta(0)},
        {"release_reminder_every": -DAY},
        {"auto_release_after": timedelta(0)},
    ],
)
def test_a_timer_period_must_be_positive(settings: dict[str, timedelta]) -> None:
    with pytest.raises(ValueError):
        TimerPolicy(**settings)
