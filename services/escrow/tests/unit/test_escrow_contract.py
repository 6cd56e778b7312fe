"""The contract and its agreed price (DESIGN §3): agreed escrows that are not cancelled or
declined may add up to the price exactly, never one rial more; instant escrows are not bound."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from escrow.domain import (
    Actor,
    Contract,
    ContractOpened,
    Escrow,
    EscrowKind,
    EscrowRefusal,
    TimerPolicy,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
POLICY = TimerPolicy(payment_expiry=timedelta(days=2))
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")
PRICE = 1_000


class Escrows:
    """A contract with an agreed price, and the escrows the repository would load for it."""

    def __init__(self, agreed_amount: int | None = PRICE) -> None:
        self.contract = Contract.open(
            EMPLOYER,
            contract_id="c-1",
            contractor_id="con-1",
            currency="IRR",
            now=NOW,
            accepted_currencies={"IRR"},
            agreed_amount=agreed_amount,
        )
        self.all: list[Escrow] = []

    def create(self, amount: int, kind: EscrowKind = EscrowKind.AGREED) -> Escrow:
        escrow = self.contract.create_escrow(
            EMPLOYER,
            escrow_id=f"e-{len(self.all)}",
            kind=kind,
            amount=amount,
            now=NOW,
            policy=POLICY,
            existing=self.all,
        )
        self.all.append(escrow)
        return escrow

    def request(self, amount: int, kind: EscrowKind = EscrowKind.AGREED) -> Escrow:
        escrow = self.contract.request_escrow(
            CONTRACTOR,
            escrow_id=f"e-{len(self.all)}",
            kind=kind,
            amount=amount,
            now=NOW,
            existing=self.all,
        )
        self.all.append(escrow)
        return escrow

    def refused(self, reason_code: str, attempt: Callable[[], object]) -> None:
        version, count = self.contract.version, len(self.all)
        with pytest.raises(EscrowRefusal) as refusal:
            attempt()
        assert refusal.value.reason_code == reason_code
        assert (self.contract.version, len(self.all)) == (version, count)


def test_opening_records_the_contract() -> None:
    contract = Escrows().contract
    assert contract.events == [
        ContractOpened("c-1", "emp-1", "con-1", "IRR", PRICE, "", NOW),
    ]
    assert (contract.employer_id, contract.version) == ("emp-1", 1)


@pytest.mark.parametrize("open_with", ["create", "request"])
def test_agreed_escrows_may_reach_the_price_exactly_but_not_exceed_it(open_with: str) -> None:
    world = Escrows()
    open_escrow = world.create if open_with == "create" else world.request
    open_escrow(600)
    open_escrow(400)
    assert world.contract.committed_amount(world.all) == PRICE
    world.refused("exceeds_agreed_amount", lambda: open_escrow(1))


def test_one_more_than_the_price_is_refused_at_once() -> None:
    world = Escrows()
    world.refused("exceeds_agreed_amount", lambda: world.create(PRICE + 1))
    world.create(PRICE)


def test_requests_and_creations_count_together() -> None:
    world = Escrows()
    world.request(700)
    world.refused("exceeds_agreed_amount", lambda: world.create(301))
    world.create(300)


def test_cancelled_and_declined_escrows_free_their_share() -> None:
    world = Escrows()
    world.create(PRICE).cancel(EMPLOYER, NOW)
    world.request(PRICE).decline_request(EMPLOYER, NOW)
    world.request(PRICE).cancel(CONTRACTOR, NOW)
    world.create(PRICE).expire_payment(NOW + timedelta(days=3))
    assert world.contract.committed_amount(world.all) == 0
    world.create(PRICE)


def test_escrows_that_held_money_keep_counting() -> None:
    world = Escrows()
    escrow = world.create(PRICE)
    escrow.receive_payment("p-1", EMPLOYER.user_id, PRICE, "IRR", NOW)
    escrow.refund(CONTRACTOR, NOW)
    world.refused("exceeds_agreed_amount", lambda: world.create(1))


def test_instant_escrows_are_not_bound_by_the_price() -> None:
    world = Escrows()
    world.create(PRICE)
    world.create(10**15, EscrowKind.INSTANT)
    world.request(5, EscrowKind.INSTANT)
    assert world.contract.committed_amount(world.all) == PRICE


def test_without_an_agreed_price_agreed_escrows_are_not_bound() -> None:
    world = Escrows(agreed_amount=None)
    world.create(10**15)
    world.create(10**15)


def test_each_escrow_opened_bumps_the_contract_version() -> None:
    # Two concurrent openings must conflict on the contract row, or both could pass the bound.
    world = Escrows()
    world.create(1)
    world.request(1)
    assert world.contract.version == 3


@pytest.mark.parametrize("amount", [0, -5, 10**15 + 1, True, 2.0])
def test_an_invalid_amount_opens_nothing(amount: int) -> None:
    world = Escrows()
    world.refused("invalid_amount", lambda: world.create(amount))
    world.refused("invalid_amount", lambda: world.request(amount))


def test_an_escrow_id_cannot_be_reused() -> None:
    world = Escrows()
    first = world.create(1)
    world.refused(
        "invalid_state",
        lambda: world.contract.create_escrow(
            EMPLOYER,
            escrow_id=first.escrow_id,
            kind=EscrowKind.INSTANT,
            amount=1,
            now=NOW,
            policy=POLICY,
            existing=world.all,
        ),
    )


def test_escrows_of_another_contract_are_a_loading_bug() -> None:
    world, other = Escrows(), Escrows()
    foreign = other.create(1)
    foreign.contract_id = "c-2"
    with pytest.raises(ValueError):
        world.contract.create_escrow(
            EMPLOYER,
            escrow_id="e-9",
            kind=EscrowKind.AGREED,
            amount=1,
            now=NOW,
            policy=POLICY,
            existing=[foreign],
        )


def test_the_escrow_inherits_the_contracts_parties_and_currency() -> None:
    escrow = Escrows().create(5)
    assert (escrow.contract_id, escrow.employer_id, escrow.contractor_id, escrow.currency) == (
        "c-1",
        "emp-1",
        "con-1",
        "IRR",
    )


@pytest.mark.parametrize(
    ("currency", "agreed", "reason"),
    [
        ("EUR", None, "unsupported_currency"),
        ("irr", None, "unsupported_currency"),
        ("IRR", 0, "invalid_amount"),
        ("IRR", 10**15 + 1, "invalid_amount"),
    ],
)
def test_a_contract_needs_an_accepted_currency_and_a_valid_price(
    currency: str, agreed: int | None, reason: str
) -> None:
    with pytest.raises(EscrowRefusal) as refusal:
        Contract.open(
            EMPLOYER,
            contract_id="c-1",
            contractor_id="con-1",
            currency=currency,
            now=NOW,
            accepted_currencies={"IRR"},
            agreed_amount=agreed,
        )
    assert refusal.value.reason_code == reason


def test_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError):
        Escrows().contract.create_escrow(
            EMPLOYER,
            escrow_id="e-9",
            kind=EscrowKind.AGREED,
            amount=1,
            now=datetime(2025, 3, 1),
            policy=POLICY,
            existing=[],
        )
