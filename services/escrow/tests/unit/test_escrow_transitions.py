"""Every row of the escrow state machine (DESIGN §3), and every command refused in every other
state with its reason code and without any change."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from escrow.domain import (
    Actor,
    ChangesRequested,
    Contract,
    Escrow,
    EscrowCancelled,
    EscrowCreated,
    EscrowDeclined,
    EscrowDisputed,
    EscrowEvent,
    EscrowFunded,
    EscrowKind,
    EscrowRefunded,
    EscrowRefusal,
    EscrowReleased,
    EscrowRequestAccepted,
    EscrowRequested,
    EscrowSettled,
    EscrowState,
    EscrowUnfrozen,
    FeePolicy,
    ReleaseReminderDue,
    TimerPolicy,
    WorkDelivered,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LATE = NOW + timedelta(days=30)  # past every timer of the tests' policies
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
POLICY = TimerPolicy(
    payment_expiry=timedelta(days=2),
    release_reminder_every=timedelta(days=1),
    auto_release_after=timedelta(days=5),
)
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")

Action = Callable[[Escrow], object]
ACTIONS: dict[str, Action] = {
    "accept": lambda e: e.accept_request(EMPLOYER, NOW, POLICY),
    "decline": lambda e: e.decline_request(EMPLOYER, NOW, "too expensive"),
    "cancel_by_contractor": lambda e: e.cancel(CONTRACTOR, NOW),
    "cancel_by_employer": lambda e: e.cancel(EMPLOYER, NOW),
    "pay": lambda e: e.receive_payment("pay-new", EMPLOYER.user_id, e.amount, "IRR", NOW),
    "expire": lambda e: e.expire_payment(LATE),
    "deliver": lambda e: e.deliver(CONTRACTOR, NOW, "v1"),
    "request_changes": lambda e: e.request_changes(EMPLOYER, NOW, "darker blue"),
    "release_part": lambda e: e.release(EMPLOYER, NOW, FEES, 30_000),
    "release_all": lambda e: e.release(EMPLOYER, NOW, FEES),
    "refund_part": lambda e: e.refund(CONTRACTOR, NOW, 30_000),
    "refund_all": lambda e: e.refund(CONTRACTOR, NOW),
    "dispute": lambda e: e.open_dispute("d-2", NOW),
    "withdraw": lambda e: e.withdraw_dispute("d-1", NOW),
    "verdict": lambda e: e.settle(
        "d-1", contractor_amount=60_000, employer_amount=40_000, currency="IRR", now=NOW, fees=FEES
    ),
    "auto_release": lambda e: e.auto_release(LATE, FEES, POLICY),
    "remind": lambda e: e.remind_release(LATE, POLICY),
}

# (from, command or event, to, the event it records) — DESIGN §3, row by row.
TABLE: list[tuple[str, str, EscrowState, type[EscrowEvent]]] = [
    ("requested", "accept", EscrowState.AWAITING_PAYMENT, EscrowRequestAccepted),
    ("requested", "decline", EscrowState.DECLINED, EscrowDeclined),
    ("requested", "cancel_by_contractor", EscrowState.CANCELLED, EscrowCancelled),
    ("awaiting_payment", "pay", EscrowState.FUNDED, EscrowFunded),
    ("awaiting_payment", "cancel_by_employer", EscrowState.CANCELLED, EscrowCancelled),
    ("awaiting_payment", "expire", EscrowState.CANCELLED, EscrowCancelled),
    ("funded", "deliver", EscrowState.DELIVERED, WorkDelivered),
    ("delivered", "request_changes", EscrowState.FUNDED, ChangesRequested),
    ("funded", "release_part", EscrowState.FUNDED, EscrowReleased),
    ("delivered", "release_part", EscrowState.DELIVERED, EscrowReleased),
    ("funded", "release_all", EscrowState.RELEASED, EscrowReleased),
    ("delivered", "release_all", EscrowState.RELEASED, EscrowReleased),
    ("funded", "refund_part", EscrowState.FUNDED, EscrowRefunded),
    ("delivered", "refund_part", EscrowState.DELIVERED, EscrowRefunded),
    ("funded", "refund_all", EscrowState.REFUNDED, EscrowRefunded),
    ("delivered", "refund_all", EscrowState.REFUNDED, EscrowRefunded),
    ("funded", "dispute", EscrowState.DISPUTED, EscrowDisputed),
    ("delivered", "dispute", EscrowState.DISPUTED, EscrowDisputed),
    ("disputed", "verdict", EscrowState.SETTLED, EscrowSettled),
    ("disputed_from_delivered", "verdict", EscrowState.SETTLED, EscrowSettled),
    ("disputed", "withdraw", EscrowState.FUNDED, EscrowUnfrozen),
    ("disputed_from_delivered", "withdraw", EscrowState.DELIVERED, EscrowUnfrozen),
    ("delivered", "auto_release", EscrowState.RELEASED, EscrowReleased),
    ("delivered", "remind", EscrowState.DELIVERED, ReleaseReminderDue),
]


@pytest.mark.parametrize(("start", "action", "end", "event"), TABLE)
def test_each_row_of_the_table_moves_the_escrow_and_records_one_event(
    escrow_in: Callable[[str], Escrow],
    start: str,
    action: str,
    end: EscrowState,
    event: type[EscrowEvent],
) -> None:
    escrow = escrow_in(start)
    version, events = escrow.version, len(escrow.events)

    ACTIONS[action](escrow)

    assert escrow.state == end
    assert escrow.version == version + 1
    assert len(escrow.events) == events + 1
    recorded = escrow.events[-1]
    assert type(recorded) is event
    assert recorded.escrow == escrow.snapshot()
    assert recorded.escrow.version == version + 1


def test_create_awaits_payment_and_request_is_requested(
    contract: Contract, escrows: list[Escrow], policy: TimerPolicy
) -> None:
    created = contract.create_escrow(
        EMPLOYER,
        escrow_id="e-a",
        kind=EscrowKind.AGREED,
        amount=5,
        now=NOW,
        policy=policy,
        existing=escrows,
    )
    requested = contract.request_escrow(
        CONTRACTOR, escrow_id="e-b", kind=EscrowKind.INSTANT, amount=7, now=NOW, existing=escrows
    )

    assert (created.state, created.version, created.held) == (EscrowState.AWAITING_PAYMENT, 1, 0)
    assert created.payment_due_at == NOW + policy.payment_expiry
    assert [type(e) for e in created.events] == [EscrowCreated]
    assert (requested.state, requested.version, requested.payment_due_at) == (
        EscrowState.REQUESTED,
        1,
        None,
    )
    assert [type(e) for e in requested.events] == [EscrowRequested]


def test_cancellation_names_who_ended_the_escrow(escrow_in: Callable[[str], Escrow]) -> None:
    by_contractor, by_employer, expired = (
        escrow_in("requested"),
        escrow_in("awaiting_payment"),
        escrow_in("awaiting_payment"),
    )
    ACTIONS["cancel_by_contractor"](by_contractor)
    ACTIONS["cancel_by_employer"](by_employer)
    ACTIONS["expire"](expired)

    causes = [e.events[-1] for e in (by_contractor, by_employer, expired)]
    assert [c.cause for c in causes if isinstance(c, EscrowCancelled)] == [
        "contractor",
        "employer",
        "payment_expired",
    ]


def test_a_mix_of_release_and_refund_ends_settled(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("delivered")
    escrow.release(EMPLOYER, NOW, FEES, 70_000)
    escrow.refund(CONTRACTOR, NOW)

    assert escrow.state == EscrowState.SETTLED
    assert (escrow.held, escrow.released_amount, escrow.refunded_amount) == (0, 70_000, 30_000)


def test_withdrawal_forgets_the_dispute(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("disputed_from_delivered")
    assert (escrow.state_before_dispute, escrow.dispute_id) == (EscrowState.DELIVERED, "d-1")

    escrow.withdraw_dispute("d-1", NOW)

    assert (escrow.state_before_dispute, escrow.dispute_id) == (None, None)


STATES = [
    "requested",
    "awaiting_payment",
    "funded",
    "delivered",
    "disputed",
    "released",
    "refunded",
    "settled",
    "cancelled",
    "declined",
]
ALLOWED: dict[str, set[str]] = {
    "accept": {"requested"},
    "decline": {"requested"},
    "cancel_by_contractor": {"requested"},
    "cancel_by_employer": {"awaiting_payment"},
    "pay": {"awaiting_payment"},
    "expire": {"awaiting_payment"},
    "deliver": {"funded"},
    "request_changes": {"delivered"},
    "release_part": {"funded", "delivered"},
    "release_all": {"funded", "delivered"},
    "refund_part": {"funded", "delivered"},
    "refund_all": {"funded", "delivered"},
    "dispute": {"funded", "delivered"},
    "withdraw": {"disputed"},
    # A settled escrow answers a redelivered verdict without change: see test_escrow_disputes.
    "verdict": {"disputed", "settled"},
    "auto_release": {"delivered"},
    "remind": {"delivered"},
}
ONCE_FUNDED = {"funded", "delivered", "disputed", "released", "refunded", "settled"}


def expected_refusal(action: str, state: str) -> str:
    if action == "pay":
        return "already_funded" if state in ONCE_FUNDED else "not_awaiting_payment"
    if action == "dispute" and state == "disputed":
        return "dispute_already_open"
    # The other party's cancel is not a wrong state but a wrong actor.
    if (action, state) in {
        ("cancel_by_contractor", "awaiting_payment"),
        ("cancel_by_employer", "requested"),
    }:
        return "forbidden"
    return "invalid_state"


REFUSED = [(a, s) for a in ACTIONS for s in STATES if s not in ALLOWED[a]]


@pytest.mark.parametrize(("action", "state"), REFUSED)
def test_every_command_outside_its_states_is_refused_without_change(
    escrow_in: Callable[[str], Escrow],
    refused: Callable[[Escrow, str, Callable[[], object]], EscrowRefusal],
    action: str,
    state: str,
) -> None:
    escrow = escrow_in(state)
    refused(escrow, expected_refusal(action, state), lambda: ACTIONS[action](escrow))


def test_the_refusal_matrix_covers_every_state_and_command() -> None:
    # Guards the two tables above against a state or command added to one and not the other.
    assert set(ALLOWED) == set(ACTIONS)
    assert {state.value for state in EscrowState} == set(STATES)
