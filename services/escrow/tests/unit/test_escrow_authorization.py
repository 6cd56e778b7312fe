"""Who may do what (DESIGN §1, §3): every escrow command by every wrong actor is `forbidden`,
checked before the state, and changes nothing."""

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
    Forbidden,
    TimerPolicy,
)

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
POLICY = TimerPolicy(payment_expiry=timedelta(days=2))
RefusalCheck = Callable[[Escrow, str, Callable[[], object]], EscrowRefusal]

Command = Callable[[Escrow, Actor], object]
# command: (what it does, the party allowed to do it, a state in which it is allowed)
COMMANDS: dict[str, tuple[Command, str, str]] = {
    "accept": (lambda e, a: e.accept_request(a, NOW, POLICY), "employer", "requested"),
    "decline": (lambda e, a: e.decline_request(a, NOW), "employer", "requested"),
    "withdraw_request": (lambda e, a: e.cancel(a, NOW), "contractor", "requested"),
    "cancel_unpaid": (lambda e, a: e.cancel(a, NOW), "employer", "awaiting_payment"),
    "deliver": (lambda e, a: e.deliver(a, NOW), "contractor", "funded"),
    "request_changes": (lambda e, a: e.request_changes(a, NOW), "employer", "delivered"),
    "release_all": (lambda e, a: e.release(a, NOW, FEES), "employer", "funded"),
    "release_part": (lambda e, a: e.release(a, NOW, FEES, 1), "employer", "delivered"),
    "refund_all": (lambda e, a: e.refund(a, NOW), "contractor", "funded"),
    "refund_part": (lambda e, a: e.refund(a, NOW, 1), "contractor", "delivered"),
}
ALL_ACTORS = [
    "employer",
    "contractor",
    "other_employer",
    "other_contractor",
    "arbiter",
    "admin",
    "system",
    "employer_as_contractor",
    "contractor_as_employer",
]
WRONG = [
    (command, actor)
    for command, (_, allowed, _) in COMMANDS.items()
    for actor in ALL_ACTORS
    if actor != allowed
]


@pytest.mark.parametrize(("command", "actor"), WRONG)
def test_a_wrong_actor_is_forbidden_and_nothing_changes(
    escrow_in: Callable[[str], Escrow],
    actors: dict[str, Actor],
    refused: RefusalCheck,
    command: str,
    actor: str,
) -> None:
    do, _, state = COMMANDS[command]
    escrow = escrow_in(state)
    refused(escrow, "forbidden", lambda: do(escrow, actors[actor]))


# Either party may cancel, each in its own state (the contractor his request, the employer his
# unpaid escrow): the other party cancelling in a third state is a wrong state, not a wrong actor.
CANCELLERS = {("withdraw_request", "employer"), ("cancel_unpaid", "contractor")}


@pytest.mark.parametrize("state", ["released", "refunded", "settled", "disputed", "cancelled"])
@pytest.mark.parametrize(("command", "actor"), [w for w in WRONG if w not in CANCELLERS])
def test_authorization_is_checked_before_the_state(
    escrow_in: Callable[[str], Escrow],
    actors: dict[str, Actor],
    refused: RefusalCheck,
    command: str,
    actor: str,
    state: str,
) -> None:
    do, _, _ = COMMANDS[command]
    escrow = escrow_in(state)
    refused(escrow, "forbidden", lambda: do(escrow, actors[actor]))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_right_actor_passes(
    escrow_in: Callable[[str], Escrow], actors: dict[str, Actor], command: str
) -> None:
    do, allowed, state = COMMANDS[command]
    escrow = escrow_in(state)
    version = escrow.version
    do(escrow, actors[allowed])
    assert escrow.version == version + 1


@pytest.mark.parametrize("state", ["funded", "delivered"])
def test_the_employer_can_never_take_funded_money_back(
    escrow_in: Callable[[str], Escrow], actors: dict[str, Actor], refused: RefusalCheck, state: str
) -> None:
    escrow = escrow_in(state)
    refused(escrow, "forbidden", lambda: escrow.refund(actors["employer"], NOW))
    refused(escrow, "invalid_state", lambda: escrow.cancel(actors["employer"], NOW))


CONTRACT_WRONG = {
    "create": [a for a in ALL_ACTORS if a != "employer"],
    "request": [a for a in ALL_ACTORS if a != "contractor"],
}


@pytest.mark.parametrize(
    ("command", "actor"), [(c, a) for c, wrong in CONTRACT_WRONG.items() for a in wrong]
)
def test_only_the_contracts_parties_open_escrows(
    contract: Contract,
    escrows: list[Escrow],
    actors: dict[str, Actor],
    command: str,
    actor: str,
) -> None:
    version = contract.version
    with pytest.raises(Forbidden):
        if command == "create":
            contract.create_escrow(
                actors[actor],
                escrow_id="e-x",
                kind=EscrowKind.INSTANT,
                amount=10,
                now=NOW,
                policy=POLICY,
                existing=escrows,
            )
        else:
            contract.request_escrow(
                actors[actor],
                escrow_id="e-x",
                kind=EscrowKind.INSTANT,
                amount=10,
                now=NOW,
                existing=escrows,
            )
    assert contract.version == version


@pytest.mark.parametrize("actor", ["contractor", "arbiter", "admin", "system"])
def test_only_an_employer_opens_a_contract(actors: dict[str, Actor], actor: str) -> None:
    with pytest.raises(Forbidden):
        Contract.open(
            actors[actor],
            contract_id="c-2",
            contractor_id="con-9",
            currency="IRR",
            now=NOW,
            accepted_currencies={"IRR"},
        )


def test_an_employer_cannot_contract_himself(actors: dict[str, Actor]) -> None:
    with pytest.raises(Forbidden):
        Contract.open(
            actors["employer"],
            contract_id="c-2",
            contractor_id="emp-1",
            currency="IRR",
            now=NOW,
            accepted_currencies={"IRR"},
        )
