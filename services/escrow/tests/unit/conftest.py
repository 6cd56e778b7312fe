"""Shared fixtures of the escrow domain tests: the parties, fee and timer policies, and a World
that walks an escrow into any state through the real commands (never by setting fields).

Test modules parametrize by actor and state *names* and get domain-typed fixtures from here, so
no test module imports this one (pytest runs with --import-mode=importlib).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from escrow.domain import (
    Actor,
    Contract,
    Escrow,
    EscrowKind,
    EscrowRefusal,
    FeePolicy,
    TimerPolicy,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
AMOUNT = 100_000
AGREED_PRICE = 1_000_000

ACTORS: dict[str, Actor] = {
    "employer": Actor("emp-1", "employer"),
    "contractor": Actor("con-1", "contractor"),
    "other_employer": Actor("emp-2", "employer"),
    "other_contractor": Actor("con-2", "contractor"),
    "arbiter": Actor("arb-1", "arbiter"),
    "admin": Actor("adm-1", "admin"),
    "system": Actor("system", "system"),
    # The right person under the wrong role must not pass either.
    "employer_as_contractor": Actor("emp-1", "contractor"),
    "contractor_as_employer": Actor("con-1", "employer"),
}


class World:
    """One contract between emp-1 and con-1 in IRR, and the escrows opened under it."""

    fees = {"IRR": FeePolicy(fee_bps=1000, min_fee=500), "USD": FeePolicy(fee_bps=250, min_fee=50)}
    policy = TimerPolicy(payment_expiry=timedelta(days=2), release_reminder_every=timedelta(days=1))
    t0 = T0
    t1 = T0 + timedelta(minutes=1)

    def __init__(self) -> None:
        self.employer, self.contractor = ACTORS["employer"], ACTORS["contractor"]
        self.contract = Contract.open(
            self.employer,
            contract_id="c-1",
            contractor_id="con-1",
            currency="IRR",
            now=T0,
            accepted_currencies={"IRR", "USD"},
            agreed_amount=AGREED_PRICE,
            title="logo",
        )
        self.escrows: list[Escrow] = []
        self._next_id = 0

    def actor(self, name: str) -> Actor:
        return ACTORS[name]

    def _new_id(self) -> str:
        self._next_id += 1
        return f"e-{self._next_id}"

    def create(self, amount: int = AMOUNT, kind: EscrowKind = EscrowKind.AGREED) -> Escrow:
        escrow = self.contract.create_escrow(
            self.employer,
            escrow_id=self._new_id(),
            kind=kind,
            amount=amount,
            now=T0,
            policy=self.policy,
            existing=self.escrows,
        )
        self.escrows.append(escrow)
        return escrow

    def request(self, amount: int = AMOUNT, kind: EscrowKind = EscrowKind.AGREED) -> Escrow:
        escrow = self.contract.request_escrow(
            self.contractor,
            escrow_id=self._new_id(),
            kind=kind,
            amount=amount,
            now=T0,
            existing=self.escrows,
        )
        self.escrows.append(escrow)
        return escrow

    def funded(self, amount: int = AMOUNT) -> Escrow:
        escrow = self.create(amount)
        assert escrow.receive_payment(
            f"pay-{escrow.escrow_id}", self.employer.user_id, amount, "IRR", self.t1
        )
        return escrow

    def escrow_in(self, state: str) -> Escrow:
        """An escrow brought into `state` by the commands that lead there."""
        steps: dict[str, Callable[[], Escrow]] = {
            "requested": self.request,
            "awaiting_payment": self.create,
            "funded": self.funded,
            "delivered": lambda: self._then(self.funded(), "deliver"),
            "disputed": lambda: self._then(self.funded(), "dispute"),
            "disputed_from_delivered": lambda: self._then(self.escrow_in("delivered"), "dispute"),
            "released": lambda: self._then(self.funded(), "release"),
            "refunded": lambda: self._then(self.funded(), "refund"),
            "settled": lambda: self._then(self.escrow_in("disputed"), "settle"),
            "cancelled": lambda: self._then(self.create(), "cancel"),
            "declined": lambda: self._then(self.request(), "decline"),
        }
        return steps[state]()

    def _then(self, escrow: Escrow, step: str) -> Escrow:
        t = self.t1
        steps: dict[str, Callable[[], object]] = {
            "deliver": lambda: escrow.deliver(self.contractor, t),
            "dispute": lambda: escrow.open_dispute("d-1", t),
            "release": lambda: escrow.release(self.employer, t, self.fees),
            "refund": lambda: escrow.refund(self.contractor, t),
            "settle": lambda: escrow.settle(
                "d-1",
                contractor_amount=escrow.held // 2,
                employer_amount=escrow.held - escrow.held // 2,
                currency="IRR",
                now=t,
                fees=self.fees,
            ),
            "cancel": lambda: escrow.cancel(self.employer, t),
            "decline": lambda: escrow.decline_request(self.employer, t),
        }
        steps[step]()
        return escrow

    @staticmethod
    def refused(escrow: Escrow, reason_code: str, attempt: Callable[[], object]) -> EscrowRefusal:
        """Assert `attempt` is refused with `reason_code` and left the escrow exactly as it was."""
        before, transactions, events = (
            escrow.snapshot(),
            len(escrow.transactions),
            len(escrow.events),
        )
        with pytest.raises(EscrowRefusal) as refusal:
            attempt()
        assert refusal.value.reason_code == reason_code, refusal.value
        assert escrow.snapshot() == before
        assert (len(escrow.transactions), len(escrow.events)) == (transactions, events)
        return refusal.value


RefusalCheck = Callable[[Escrow, str, Callable[[], object]], EscrowRefusal]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def actors() -> dict[str, Actor]:
    return ACTORS


@pytest.fixture
def fees(world: World) -> dict[str, FeePolicy]:
    return world.fees


@pytest.fixture
def policy(world: World) -> TimerPolicy:
    return world.policy


@pytest.fixture
def contract(world: World) -> Contract:
    return world.contract


@pytest.fixture
def escrows(world: World) -> list[Escrow]:
    """Every escrow of the world's contract, as the repository would load them."""
    return world.escrows


@pytest.fixture
def escrow_in(world: World) -> Callable[[str], Escrow]:
    """Brings a new escrow of 100 000 IRR into the named state (see World.escrow_in)."""
    return world.escrow_in


@pytest.fixture
def escrow_of(world: World) -> Callable[[int], Escrow]:
    """Creates a new instant escrow of the given amount, awaiting payment."""
    return lambda amount: world.create(amount, EscrowKind.INSTANT)


@pytest.fixture
def refused() -> RefusalCheck:
    """Asserts a call is refused with a reason code and changed nothing."""
    return World.refused
