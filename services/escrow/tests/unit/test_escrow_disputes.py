"""Disputes as the escrow sees them: a freeze that only a verdict (or a withdrawal) lifts, and a
settlement that hands out exactly what is held, with the fee on the contractor's share only."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from escrow.domain import (
    Actor,
    DisputeRefused,
    Entry,
    Escrow,
    EscrowDisputed,
    EscrowRefusal,
    EscrowSettled,
    EscrowState,
    EscrowUnfrozen,
    FeePolicy,
    TimerPolicy,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LATE = NOW + timedelta(days=30)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
AUTO = TimerPolicy(auto_release_after=timedelta(days=1))
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")
RefusalCheck = Callable[[Escrow, str, Callable[[], object]], EscrowRefusal]


def settle(
    escrow: Escrow,
    contractor: object,
    employer: object,
    dispute_id: str = "d-1",
    **overrides: object,
) -> bool:
    arguments: dict[str, object] = {
        "contractor_amount": contractor,
        "employer_amount": employer,
        "currency": "IRR",
        "now": NOW,
        "fees": FEES,
    }
    return escrow.settle(dispute_id, **(arguments | overrides))  # type: ignore[arg-type]


def test_a_dispute_freezes_and_remembers_the_state_before(
    escrow_in: Callable[[str], Escrow],
) -> None:
    escrow = escrow_in("delivered")
    assert escrow.open_dispute("d-7", NOW) is True
    assert (escrow.state, escrow.state_before_dispute, escrow.dispute_id) == (
        EscrowState.DISPUTED,
        EscrowState.DELIVERED,
        "d-7",
    )
    assert escrow.events[-1] == EscrowDisputed(escrow.snapshot(), "d-7")
    assert escrow.held == 100_000


def test_a_redelivered_dispute_opening_changes_nothing(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("disputed")
    before, events = escrow.snapshot(), len(escrow.events)
    assert escrow.open_dispute("d-1", NOW) is False
    assert (escrow.snapshot(), len(escrow.events)) == (before, events)


@pytest.mark.parametrize(
    "state",
    ["requested", "awaiting_payment", "released", "refunded", "settled", "cancelled", "declined"],
)
def test_a_dispute_on_money_not_held_is_refused_for_escrow_dispute_rejected(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, state: str
) -> None:
    escrow = escrow_in(state)
    refusal = refused(escrow, "invalid_state", lambda: escrow.open_dispute("d-9", NOW))
    assert isinstance(refusal, DisputeRefused)


def test_a_second_dispute_is_refused_with_its_own_code(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("disputed")
    refusal = refused(escrow, "dispute_already_open", lambda: escrow.open_dispute("d-2", NOW))
    assert isinstance(refusal, DisputeRefused)


def test_the_race_of_release_and_dispute_has_one_winner(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    released_first, disputed_first = escrow_in("delivered"), escrow_in("delivered")
    released_first.release(EMPLOYER, NOW, FEES)
    refused(released_first, "invalid_state", lambda: released_first.open_dispute("d-1", NOW))
    disputed_first.open_dispute("d-1", NOW)
    refused(disputed_first, "invalid_state", lambda: disputed_first.release(EMPLOYER, NOW, FEES))


MOVES: dict[str, Callable[[Escrow], object]] = {
    "release": lambda e: e.release(EMPLOYER, NOW, FEES),
    "release_part": lambda e: e.release(EMPLOYER, NOW, FEES, 1),
    "refund": lambda e: e.refund(CONTRACTOR, NOW),
    "refund_part": lambda e: e.refund(CONTRACTOR, NOW, 1),
    "auto_release": lambda e: e.auto_release(LATE, FEES, AUTO),
    "cancel": lambda e: e.cancel(EMPLOYER, NOW),
    "deliver": lambda e: e.deliver(CONTRACTOR, NOW),
    "request_changes": lambda e: e.request_changes(EMPLOYER, NOW),
}


@pytest.mark.parametrize("state", ["disputed", "disputed_from_delivered"])
@pytest.mark.parametrize("move", list(MOVES))
def test_nothing_but_the_verdict_moves_a_disputed_escrow(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, state: str, move: str
) -> None:
    escrow = escrow_in(state)
    refused(escrow, "invalid_state", lambda: MOVES[move](escrow))


def test_withdrawal_by_another_dispute_is_refused(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("disputed")
    refused(escrow, "invalid_state", lambda: escrow.withdraw_dispute("d-2", NOW))
    escrow.withdraw_dispute("d-1", NOW)
    assert escrow.events[-1] == EscrowUnfrozen(escrow.snapshot(), "d-1")
    refused(escrow, "invalid_state", lambda: escrow.withdraw_dispute("d-1", NOW))


def test_a_verdict_splits_what_is_held_with_the_fee_on_the_contractors_share(
    escrow_in: Callable[[str], Escrow],
) -> None:
    escrow = escrow_in("disputed")
    assert settle(escrow, 60_000, 40_000, verdict_kind="agreement") is True

    assert (escrow.state, escrow.held, escrow.fees_charged, escrow.dispute_id) == (
        EscrowState.SETTLED,
        0,
        6_000,
        "d-1",
    )
    assert escrow.events[-1] == EscrowSettled(
        escrow.snapshot(), "d-1", "agreement", 60_000, 6_000, 54_000, 40_000
    )
    assert escrow.transactions[-1].entries == (
        Entry(f"escrow:{escrow.escrow_id}", "IRR", -100_000),
        Entry("contractor:con-1", "IRR", 54_000),
        Entry("platform:fees", "IRR", 6_000),
        Entry("employer:emp-1", "IRR", 40_000),
    )


@pytest.mark.parametrize(
    ("contractor", "employer", "fee"), [(0, 100_000, 0), (100_000, 0, 10_000), (1, 99_999, 1)]
)
def test_a_verdict_may_give_everything_to_one_side(
    escrow_in: Callable[[str], Escrow], contractor: int, employer: int, fee: int
) -> None:
    escrow = escrow_in("disputed")
    settle(escrow, contractor, employer)
    settled = escrow.events[-1]
    assert isinstance(settled, EscrowSettled)
    assert (settled.fee, settled.contractor_net) == (fee, contractor - fee)
    assert escrow.state == EscrowState.SETTLED


def test_a_verdict_after_a_partial_release_splits_the_rest(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("funded")
    escrow.release(EMPLOYER, NOW, FEES, 30_000)
    escrow.open_dispute("d-1", NOW)
    refused(escrow, "invalid_amount", lambda: settle(escrow, 60_000, 40_000))
    settle(escrow, 35_000, 35_000)
    assert (escrow.held, escrow.released_amount, escrow.settled_amount) == (0, 30_000, 70_000)


@pytest.mark.parametrize(
    ("contractor", "employer", "overrides", "reason"),
    [
        (60_000, 39_999, {}, "invalid_amount"),
        (60_000, 40_001, {}, "invalid_amount"),
        (100_001, -1, {}, "invalid_amount"),
        (-1, 100_001, {}, "invalid_amount"),
        (60_000.0, 40_000, {}, "invalid_amount"),
        (True, 99_999, {}, "invalid_amount"),
        (60_000, 40_000, {"currency": "USD"}, "currency_mismatch"),
        (60_000, 40_000, {"dispute_id": "d-2"}, "invalid_state"),
        (60_000, 40_000, {"fees": {}}, "unsupported_currency"),
    ],
)
def test_a_verdict_that_does_not_fit_is_refused(
    escrow_in: Callable[[str], Escrow],
    refused: RefusalCheck,
    contractor: object,
    employer: object,
    overrides: dict[str, Any],
    reason: str,
) -> None:
    escrow = escrow_in("disputed")
    refused(escrow, reason, lambda: settle(escrow, contractor, employer, **overrides))


def test_a_redelivered_verdict_changes_nothing(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("settled")
    before, events = escrow.snapshot(), len(escrow.events)
    assert settle(escrow, 50_000, 50_000) is False
    assert (escrow.snapshot(), len(escrow.events)) == (before, events)


def test_a_verdict_for_another_dispute_of_a_settled_escrow_is_refused(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("settled")
    refused(escrow, "invalid_state", lambda: settle(escrow, 0, 0, dispute_id="d-2"))
