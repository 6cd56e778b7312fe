"""Opening a dispute, the saga with the escrow service, withdrawal and closing."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from disputes.domain import (
    ADMIN,
    ARBITER,
    CONTRACTOR,
    EMPLOYER,
    SYSTEM,
    Actor,
    Dispute,
    DisputeRefusal,
    EscrowSnapshot,
    InvalidState,
    NotEscrowed,
)
from disputes.domain.events import (
    DisputeClosed,
    DisputeEnteredNegotiation,
    DisputeOpened,
    DisputeRejected,
    DisputeWithdrawn,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HELD = 1_000_000
EMP, CON = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR)
ADM, ARB, SYS = Actor("u-admin", ADMIN), Actor("u-arb", ARBITER), Actor("system", SYSTEM)
At = Callable[[int], datetime]
Builder = Callable[..., Dispute]
Refused = Callable[..., DisputeRefusal]
Escrow = Callable[..., EscrowSnapshot]
OpenOn = Callable[..., Callable[[], Dispute]]


def test_open_by_employer_starts_pending_with_the_contractor_as_respondent(opened: Builder) -> None:
    dispute = opened(EMP)
    assert (dispute.state, dispute.version, dispute.is_open) == ("pending", 1, True)
    assert (dispute.opener_id, dispute.respondent_id) == ("u-emp", "u-con")
    assert dispute.statements[0].text == "broken" and dispute.statements[0].author == EMP
    assert dispute.events == [
        DisputeOpened(
            dispute_id="d-1",
            escrow_id="esc-1",
            at=T0,
            opened_by="u-emp",
            opener_role="employer",
            respondent_id="u-con",
            employer_id="u-emp",
            contractor_id="u-con",
            reason="quality",
            currency="IRR",
        )
    ]


def test_open_by_contractor_makes_the_employer_respondent(opened: Builder) -> None:
    dispute = opened(CON)
    assert (dispute.opener_id, dispute.respondent_id) == ("u-con", "u-emp")


@pytest.mark.parametrize("state", ["funded", "delivered"])
def test_funded_and_delivered_escrows_can_be_disputed(state: str, escrow: Escrow) -> None:
    dispute = Dispute.open(
        dispute_id="d",
        escrow=escrow(state),
        actor=CON,
        reason="not_released",
        statement="pay me",
        now=T0,
    )
    assert dispute.state == "pending"


@pytest.fixture(scope="session")
def open_on(at: At) -> OpenOn:
    def open_on(
        snapshot: EscrowSnapshot | None = None,
        actor: Actor = EMP,
        reason: str = "quality",
        statement: str = "broken",
        existing: tuple[Dispute, ...] = (),
    ) -> Callable[[], Dispute]:
        return lambda: Dispute.open(
            dispute_id="d-2",
            escrow=snapshot,
            actor=actor,
            reason=reason,
            statement=statement,
            now=at(5),
            existing=existing,
        )

    return open_on


def refused_to_open(code: str, action: Callable[[], Dispute]) -> DisputeRefusal:
    with pytest.raises(DisputeRefusal) as caught:
        action()
    assert caught.value.reason_code == code
    return caught.value


def test_a_payment_outside_escrow_cannot_be_disputed(open_on: OpenOn) -> None:
    refused_to_open("not_escrowed", open_on(None))
    assert issubclass(NotEscrowed, DisputeRefusal)


@pytest.mark.parametrize(
    "actor",
    [
        ADM,
        ARB,
        SYS,
        Actor("u-other", EMPLOYER),
        Actor("u-con", EMPLOYER),
        Actor("u-emp", CONTRACTOR),
        Actor("u-emp", "guest"),
    ],
)
def test_only_the_escrows_own_parties_may_open(
    actor: Actor, escrow: Escrow, open_on: OpenOn
) -> None:
    refused_to_open("forbidden", open_on(escrow(), actor))


def test_authorization_comes_before_state_checks(
    opened: Builder, escrow: Escrow, open_on: OpenOn
) -> None:
    refused_to_open("forbidden", open_on(escrow("released"), ADM))
    refused_to_open("forbidden", open_on(escrow(), Actor("x", EMPLOYER), existing=(opened(),)))


@pytest.mark.parametrize(
    "state",
    [
        "requested",
        "awaiting_payment",
        "released",
        "refunded",
        "settled",
        "cancelled",
        "declined",
        "disputed",
    ],
)
def test_only_held_money_can_be_disputed(state: str, escrow: Escrow, open_on: OpenOn) -> None:
    refused_to_open("invalid_state", open_on(escrow(state)))


def test_one_open_dispute_per_escrow(
    arbitrating: Builder,
    negotiating: Builder,
    opened: Builder,
    escrow: Escrow,
    open_on: OpenOn,
) -> None:
    for live in (opened(), negotiating(), arbitrating()):
        error = refused_to_open("dispute_already_open", open_on(escrow(), CON, existing=(live,)))
        assert isinstance(error, InvalidState)


def test_a_finished_dispute_or_one_on_another_escrow_does_not_block_a_new_one(
    opened: Builder, escrow: Escrow, open_on: OpenOn, at: At
) -> None:
    withdrawn = opened()
    withdrawn.withdraw(EMP, at(1))
    rejected = opened()
    rejected.escrow_dispute_rejected("released", at(1))
    elsewhere = Dispute.open(
        dispute_id="d-9",
        escrow=EscrowSnapshot("esc-9", "u-emp", "u-con", "funded", "IRR"),
        actor=EMP,
        reason="other",
        statement="x",
        now=T0,
    )
    dispute = open_on(escrow(), CON, existing=(withdrawn, rejected, elsewhere))()
    assert dispute.state == "pending"


@pytest.mark.parametrize(
    ("reason", "statement"),
    [("angry", "x"), ("", "x"), ("quality", ""), ("quality", "   "), ("quality", "x" * 20_001)],
)
def test_reason_and_statement_are_required(
    reason: str, statement: str, escrow: Escrow, open_on: OpenOn
) -> None:
    refused_to_open("malformed", open_on(escrow(), reason=reason, statement=statement))


def test_time_must_be_timezone_aware_utc(negotiating: Builder, escrow: Escrow) -> None:
    with pytest.raises(ValueError, match="UTC"):
        Dispute.open(
            dispute_id="d",
            escrow=escrow(),
            actor=EMP,
            reason="quality",
            statement="x",
            now=datetime(2025, 3, 1, 9),
        )
    dispute = negotiating()
    with pytest.raises(ValueError, match="UTC"):
        dispute.escalate(
            EMP, datetime(2025, 3, 1, 9, tzinfo=timezone(timedelta(hours=3, minutes=30)))
        )


def test_escrow_disputed_starts_negotiation_with_the_held_amount(opened: Builder, at: At) -> None:
    dispute = opened()
    dispute.escrow_disputed(HELD, at(1))
    assert (dispute.state, dispute.held_amount, dispute.currency) == ("negotiation", HELD, "IRR")
    assert dispute.negotiation_started_at == at(1) and dispute.version == 2
    assert dispute.events[-1] == DisputeEnteredNegotiation(
        dispute_id="d-1", escrow_id="esc-1", at=at(1), held_amount=HELD, currency="IRR"
    )


@pytest.mark.parametrize("held", [0, -1, 10**15 + 1, True, 1.5, "100"])
def test_the_held_amount_must_be_a_positive_integer(
    held: object, opened: Builder, at: At, refused: Refused
) -> None:
    dispute = opened()
    refused(dispute, "invalid_amount", lambda: dispute.escrow_disputed(held, at(1)))  # type: ignore[arg-type]


def test_escrow_answers_apply_only_to_a_pending_dispute(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    refused(dispute, "invalid_state", lambda: dispute.escrow_disputed(HELD, at(2)))
    refused(dispute, "invalid_state", lambda: dispute.escrow_dispute_rejected("late", at(2)))


def test_escrow_dispute_rejected_ends_the_dispute(
    opened: Builder, at: At, refused: Refused
) -> None:
    dispute = opened()
    dispute.escrow_dispute_rejected("already released", at(1))
    assert (dispute.state, dispute.is_open, dispute.version) == ("rejected", False, 2)
    assert dispute.events[-1] == DisputeRejected(
        dispute_id="d-1", escrow_id="esc-1", at=at(1), reason="already released"
    )
    refused(dispute, "invalid_state", lambda: dispute.escrow_disputed(HELD, at(2)))
    refused(dispute, "invalid_state", lambda: dispute.withdraw(EMP, at(2)))
    refused(dispute, "invalid_state", lambda: dispute.escrow_settled(at(2)))


@pytest.mark.parametrize("build", ["opened", "negotiating", "arbitrating"])
def test_the_opener_may_withdraw_before_a_verdict(
    build: str, request: pytest.FixtureRequest, at: At
) -> None:
    dispute = request.getfixturevalue(build)()
    state, version = dispute.state, dispute.version
    dispute.withdraw(EMP, at(10))
    assert (dispute.state, dispute.is_open, dispute.version) == ("withdrawn", False, version + 1)
    assert dispute.events[-1] == DisputeWithdrawn(
        dispute_id="d-1", escrow_id="esc-1", at=at(10), withdrawn_by="u-emp", withdrawn_from=state
    )


@pytest.mark.parametrize("actor", [CON, ADM, ARB, SYS, Actor("u-con", EMPLOYER)])
def test_nobody_but_the_opener_may_withdraw(
    actor: Actor, arbitrating: Builder, at: At, refused: Refused
) -> None:
    dispute = arbitrating()
    refused(dispute, "forbidden", lambda: dispute.withdraw(actor, at(10)))


def test_withdrawal_is_refused_after_a_verdict_and_after_the_end(
    arbitrating: Builder, opened: Builder, at: At, refused: Refused
) -> None:
    dispute = arbitrating()
    dispute.issue_verdict(ARB, contractor_amount=HELD, employer_amount=0, now=at(10))
    refused(dispute, "invalid_state", lambda: dispute.withdraw(EMP, at(11)))
    dispute.escrow_settled(at(12))
    refused(dispute, "invalid_state", lambda: dispute.withdraw(EMP, at(13)))
    withdrawn = opened()
    withdrawn.withdraw(EMP, at(1))
    refused(withdrawn, "invalid_state", lambda: withdrawn.withdraw(EMP, at(2)))


def test_a_verdict_keeps_the_dispute_open_until_the_escrow_settles(
    negotiating: Builder,
    escrow: Escrow,
    open_on: OpenOn,
    at: At,
    refused: Refused,
) -> None:
    dispute = negotiating()
    proposal = dispute.propose_settlement(CON, 600_000, at(5))
    dispute.accept_settlement(EMP, proposal.proposal_no, at(6))
    assert (dispute.state, dispute.is_open) == ("negotiation", True)
    refused_to_open("dispute_already_open", open_on(escrow(), CON, existing=(dispute,)))
    dispute.escrow_settled(at(7))
    assert (dispute.state, dispute.is_open) == ("closed", False)
    assert dispute.events[-1] == DisputeClosed(
        dispute_id="d-1", escrow_id="esc-1", at=at(7), verdict_kind="agreement"
    )
    refused(dispute, "invalid_state", lambda: dispute.escrow_settled(at(8)))


@pytest.mark.parametrize("build", ["opened", "negotiating", "arbitrating"])
def test_settlement_without_a_verdict_is_refused(
    build: str, request: pytest.FixtureRequest, at: At, refused: Refused
) -> None:
    dispute = request.getfixturevalue(build)()
    refused(dispute, "invalid_state", lambda: dispute.escrow_settled(at(10)))
