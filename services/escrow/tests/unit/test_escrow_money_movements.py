"""Money in and out of an escrow: funding by the employer's payment, releases (fee taken from
the contractor's side) and refunds (no fee), partial or whole, with the ledger they post."""

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from escrow.domain import (
    MAX_AMOUNT,
    Actor,
    Entry,
    Escrow,
    EscrowFunded,
    EscrowRefunded,
    EscrowRefusal,
    EscrowReleased,
    EscrowState,
    FeePolicy,
    TransactionKind,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")
PAYER = EMPLOYER.user_id  # who paid, as payment-received names him
RefusalCheck = Callable[[Escrow, str, Callable[[], object]], EscrowRefusal]


def funded(escrow_of: Callable[[int], Escrow], amount: int) -> Escrow:
    escrow = escrow_of(amount)
    escrow.receive_payment("pay-1", PAYER, amount, "IRR", NOW)
    return escrow


def test_payment_funds_the_escrow_through_the_ledger(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("awaiting_payment")

    assert escrow.receive_payment("pay-9", PAYER, 100_000, "IRR", NOW) is True

    assert (escrow.state, escrow.held, escrow.funded_amount, escrow.payment_id) == (
        EscrowState.FUNDED,
        100_000,
        100_000,
        "pay-9",
    )
    funding = escrow.transactions[-1]
    assert (funding.kind, funding.escrow_version) == (TransactionKind.FUNDING, escrow.version)
    assert funding.entries == (
        Entry(f"escrow:{escrow.escrow_id}", "IRR", 100_000),
        Entry("psp:pay-9", "IRR", -100_000),
    )
    assert escrow.events[-1] == EscrowFunded(escrow.snapshot(), "pay-9", 100_000)


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        (99_999, "IRR", "amount_mismatch"),
        (100_001, "IRR", "amount_mismatch"),
        (100_000.0, "IRR", "amount_mismatch"),
        ("100000", "IRR", "amount_mismatch"),
        (100_000, "USD", "currency_mismatch"),
    ],
)
def test_a_wrong_payment_is_refused_so_it_can_be_refunded(
    escrow_in: Callable[[str], Escrow],
    refused: RefusalCheck,
    amount: int,
    currency: str,
    reason: str,
) -> None:
    escrow = escrow_in("awaiting_payment")
    refused(escrow, reason, lambda: escrow.receive_payment("pay-9", PAYER, amount, currency, NOW))


def test_true_is_not_one_rial(escrow_of: Callable[[int], Escrow], refused: RefusalCheck) -> None:
    escrow = escrow_of(1)
    refused(escrow, "amount_mismatch", lambda: escrow.receive_payment("p", PAYER, True, "IRR", NOW))
    assert escrow.receive_payment("p", PAYER, 1, "IRR", NOW)


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("requested", "not_awaiting_payment"),
        ("cancelled", "not_awaiting_payment"),
        ("declined", "not_awaiting_payment"),
        ("funded", "already_funded"),
        ("released", "already_funded"),
        ("disputed", "already_funded"),
    ],
)
def test_a_payment_for_an_escrow_that_does_not_await_one_is_refused(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, state: str, reason: str
) -> None:
    escrow = escrow_in(state)
    refusal = refused(
        escrow, reason, lambda: escrow.receive_payment("pay-2", PAYER, 100_000, "IRR", NOW)
    )
    assert refusal.reason_code in {"not_awaiting_payment", "already_funded"}


@pytest.mark.parametrize(
    "payer",
    ["emp-2", "con-1", "", "EMP-1", "emp-1 "],
    ids=["another-employer", "the-contractor", "nobody", "case", "padded"],
)
def test_only_the_escrows_employer_can_fund_it(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, payer: str
) -> None:
    # Held, another's money would be released or refunded as the employer's, while the payments
    # service refunds the payer: refused, it goes back to the payer and the escrow still waits.
    escrow = escrow_in("awaiting_payment")
    refused(
        escrow,
        "payer_mismatch",
        lambda: escrow.receive_payment("pay-x", payer, 100_000, "IRR", NOW),
    )

    assert escrow.receive_payment("pay-9", PAYER, 100_000, "IRR", NOW) is True
    assert (escrow.state, escrow.payment_id) == (EscrowState.FUNDED, "pay-9")


@pytest.mark.parametrize("state", ["requested", "funded", "cancelled", "released"])
def test_a_strangers_payment_is_refused_as_his_whatever_the_state(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, state: str
) -> None:
    escrow = escrow_in(state)
    refused(
        escrow,
        "payer_mismatch",
        lambda: escrow.receive_payment("pay-x", "emp-2", 100_000, "IRR", NOW),
    )


def test_a_redelivered_payment_changes_nothing_and_is_not_refused(
    escrow_in: Callable[[str], Escrow],
) -> None:
    # Refusing it would make the payments service refund money that is held here: paid twice.
    escrow = escrow_in("funded")
    assert escrow.payment_id is not None
    before, events = escrow.snapshot(), len(escrow.events)

    assert escrow.receive_payment(escrow.payment_id, PAYER, 100_000, "IRR", NOW) is False

    assert (escrow.snapshot(), len(escrow.events)) == (before, events)
    assert escrow.held == 100_000


def test_a_partial_release_pays_the_net_and_keeps_the_rest(
    escrow_in: Callable[[str], Escrow],
) -> None:
    escrow = escrow_in("delivered")
    escrow.release(EMPLOYER, NOW, FEES, 30_000)

    assert (escrow.state, escrow.held, escrow.released_amount, escrow.fees_charged) == (
        EscrowState.DELIVERED,
        70_000,
        30_000,
        3_000,
    )
    assert escrow.events[-1] == EscrowReleased(escrow.snapshot(), 30_000, 3_000, 27_000, False)
    assert escrow.transactions[-1].entries == (
        Entry(f"escrow:{escrow.escrow_id}", "IRR", -30_000),
        Entry("contractor:con-1", "IRR", 27_000),
        Entry("platform:fees", "IRR", 3_000),
    )


def test_releases_in_parts_take_the_minimum_fee_each_time(
    escrow_of: Callable[[int], Escrow],
) -> None:
    escrow = funded(escrow_of, 3_000)
    for _ in range(3):
        escrow.release(EMPLOYER, NOW, FEES, 1_000)  # 10% = 100 < min 500
    assert (escrow.state, escrow.fees_charged, escrow.released_amount) == (
        EscrowState.RELEASED,
        1_500,
        3_000,
    )


def test_a_release_smaller_than_the_minimum_fee_goes_entirely_to_the_platform(
    escrow_of: Callable[[int], Escrow],
) -> None:
    escrow = funded(escrow_of, 400)
    escrow.release(EMPLOYER, NOW, FEES)
    assert escrow.events[-1] == EscrowReleased(escrow.snapshot(), 400, 400, 0, False)
    assert [e.account for e in escrow.transactions[-1].entries] == [
        f"escrow:{escrow.escrow_id}",
        "platform:fees",
    ]


def test_the_largest_amount_is_released_exactly(escrow_of: Callable[[int], Escrow]) -> None:
    escrow = funded(escrow_of, MAX_AMOUNT)
    escrow.release(EMPLOYER, NOW, FEES)
    assert escrow.events[-1] == EscrowReleased(
        escrow.snapshot(), MAX_AMOUNT, MAX_AMOUNT // 10, MAX_AMOUNT - MAX_AMOUNT // 10, False
    )


def test_a_refund_returns_money_without_fee(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("funded")
    escrow.refund(CONTRACTOR, NOW, 1)
    escrow.refund(CONTRACTOR, NOW)

    assert (escrow.state, escrow.refunded_amount, escrow.fees_charged, escrow.held) == (
        EscrowState.REFUNDED,
        100_000,
        0,
        0,
    )
    assert escrow.events[-1] == EscrowRefunded(escrow.snapshot(), 99_999)
    assert escrow.transactions[-1].entries == (
        Entry(f"escrow:{escrow.escrow_id}", "IRR", -99_999),
        Entry("employer:emp-1", "IRR", 99_999),
    )


@pytest.mark.parametrize("move", ["release", "refund"])
@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (100_001, "exceeds_held"),
        (MAX_AMOUNT, "exceeds_held"),
        (0, "invalid_amount"),
        (-1, "invalid_amount"),
        (MAX_AMOUNT + 1, "invalid_amount"),
        (True, "invalid_amount"),
        (1.5, "invalid_amount"),
    ],
)
def test_more_than_held_or_a_bad_amount_is_refused(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck, move: str, amount: int, reason: str
) -> None:
    escrow = escrow_in("delivered")
    if move == "release":
        refused(escrow, reason, lambda: escrow.release(EMPLOYER, NOW, FEES, amount))
    else:
        refused(escrow, reason, lambda: escrow.refund(CONTRACTOR, NOW, amount))


def test_what_is_left_after_a_partial_move_is_the_new_limit(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("funded")
    escrow.release(EMPLOYER, NOW, FEES, 60_000)
    refused(escrow, "exceeds_held", lambda: escrow.refund(CONTRACTOR, NOW, 40_001))
    escrow.refund(CONTRACTOR, NOW, 40_000)
    assert (escrow.state, escrow.held) == (EscrowState.SETTLED, 0)


def test_money_never_moves_in_a_currency_without_a_fee_policy(
    escrow_in: Callable[[str], Escrow], refused: RefusalCheck
) -> None:
    escrow = escrow_in("funded")
    refused(escrow, "unsupported_currency", lambda: escrow.release(EMPLOYER, NOW, {}, 5))


def test_time_must_be_timezone_aware(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("funded")
    with pytest.raises(ValueError):
        escrow.release(EMPLOYER, datetime(2025, 3, 1), FEES)
    assert (escrow.held, escrow.version) == (100_000, 2)
