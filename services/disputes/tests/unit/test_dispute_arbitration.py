"""Arbitration: arbiter assignment by an admin, and the assigned arbiter's exact-sum verdict."""

from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from functools import partial
from typing import Any

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
)
from disputes.domain.events import ArbiterAssigned, VerdictIssued
from hypothesis import given, settings
from hypothesis import strategies as st

HELD = 1_000_000
EMP, CON, ADM = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR), Actor("u-admin", ADMIN)
ARB, ARB2, SYS = Actor("u-arb", ARBITER), Actor("u-arb-2", ARBITER), Actor("system", SYSTEM)
At = Callable[[int], datetime]
Builder = Callable[..., Dispute]
Refused = Callable[..., DisputeRefusal]
Decide = Callable[[Dispute, Actor, Any, Any], None]


@pytest.fixture(scope="session")
def decide(at: At) -> Decide:
    def decide(dispute: Dispute, actor: Actor, contractor: Any, employer: Any) -> None:
        """Amounts are Any: the tests also pass floats, bools and strings on purpose."""
        dispute.issue_verdict(
            actor, contractor_amount=contractor, employer_amount=employer, now=at(20)
        )

    return decide


def test_an_admin_assigns_the_arbiter(arbitrating: Builder, at: At) -> None:
    dispute = arbitrating(arbiter=None)
    dispute.assign_arbiter(ADM, "u-arb", at(3))
    assert (dispute.arbiter_id, dispute.version) == ("u-arb", 4)
    assert dispute.events[-1] == ArbiterAssigned(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(3),
        arbiter_id="u-arb",
        previous_arbiter_id=None,
        assigned_by="u-admin",
    )


def test_reassignment_is_recorded_and_moves_the_right_to_decide(
    arbitrating: Builder, at: At, refused: Refused, decide: Decide
) -> None:
    dispute = arbitrating()
    dispute.assign_arbiter(ADM, "u-arb-2", at(4))
    assert dispute.arbiter_id == "u-arb-2"
    assert dispute.events[-1] == ArbiterAssigned(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(4),
        arbiter_id="u-arb-2",
        previous_arbiter_id="u-arb",
        assigned_by="u-admin",
    )
    assert [e.kind for e in dispute.timeline.entries][-2:] == ["arbiter_assigned"] * 2
    refused(dispute, "forbidden", lambda: decide(dispute, ARB, HELD, 0))
    decide(dispute, ARB2, HELD, 0)
    assert dispute.verdict is not None and dispute.verdict.arbiter_id == "u-arb-2"


@pytest.mark.parametrize("actor", [EMP, CON, ARB, SYS, Actor("u-admin", ARBITER)])
def test_only_an_admin_assigns(
    actor: Actor, arbitrating: Builder, at: At, refused: Refused
) -> None:
    dispute = arbitrating(arbiter=None)
    refused(dispute, "forbidden", lambda: dispute.assign_arbiter(actor, "u-arb", at(3)))


def test_arbiters_are_assigned_only_in_arbitration_before_a_verdict(
    arbitrating: Builder,
    negotiating: Builder,
    opened: Builder,
    at: At,
    refused: Refused,
    decide: Decide,
) -> None:
    for dispute in (opened(), negotiating()):
        refused(dispute, "invalid_state", partial(dispute.assign_arbiter, ADM, "u-arb", at(9)))
    dispute = arbitrating()
    refused(dispute, "invalid_state", lambda: dispute.assign_arbiter(ADM, "u-arb", at(9)))
    decide(dispute, ARB, 1, HELD - 1)
    refused(dispute, "invalid_state", lambda: dispute.assign_arbiter(ADM, "u-arb-2", at(21)))


def test_a_party_cannot_be_the_arbiter_and_the_arbiter_must_be_named(
    arbitrating: Builder, negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = arbitrating(arbiter=None)
    for party in ("u-emp", "u-con"):
        refused(dispute, "forbidden", partial(dispute.assign_arbiter, ADM, party, at(3)))
    refused(dispute, "malformed", lambda: dispute.assign_arbiter(ADM, " ", at(3)))
    early = negotiating()  # who may arbitrate is checked before the dispute's state
    refused(early, "forbidden", lambda: early.assign_arbiter(ADM, "u-con", at(3)))


@pytest.mark.parametrize(
    ("contractor", "employer"), [(HELD, 0), (0, HELD), (1, HELD - 1), (400_000, 600_000)]
)
def test_the_assigned_arbiter_splits_the_held_amount_exactly(
    contractor: int, employer: int, arbitrating: Builder, at: At, decide: Decide
) -> None:
    dispute = arbitrating()
    decide(dispute, ARB, contractor, employer)
    assert dispute.state == "arbitration" and dispute.verdict is not None
    assert (dispute.verdict.contractor_amount, dispute.verdict.employer_amount) == (
        contractor,
        employer,
    )
    assert dispute.events[-1] == VerdictIssued(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(20),
        kind="arbitration",
        contractor_amount=contractor,
        employer_amount=employer,
        currency="IRR",
        arbiter_id="u-arb",
    )
    dispute.escrow_settled(at(30))
    assert dispute.state == "closed"


@pytest.mark.parametrize(
    ("contractor", "employer"),
    [
        (400_001, 600_000),
        (399_999, 600_000),
        (400_000, 600_001),
        (400_000, 599_999),
        (HELD + 1, 0),
        (0, HELD + 1),
        (HELD, 1),
        (-1, HELD + 1),
        (HELD + 1, -1),
        (-1, HELD),
        (0, 0),
        (True, HELD - 1),
        (HELD - 1, True),
        (float(HELD), 0),
        (HELD, 0.0),
        ("1", HELD - 1),
        (None, HELD),
    ],
)
def test_any_other_split_is_an_invalid_amount(
    contractor: object, employer: object, arbitrating: Builder, refused: Refused, decide: Decide
) -> None:
    dispute = arbitrating()
    refused(dispute, "invalid_amount", lambda: decide(dispute, ARB, contractor, employer))


def test_the_sum_mismatch_message_names_the_held_amount(
    arbitrating: Builder, refused: Refused, decide: Decide
) -> None:
    dispute = arbitrating()
    error = refused(dispute, "invalid_amount", lambda: decide(dispute, ARB, 1, 1))
    assert "must equal the held amount 1000000" in str(error)


@pytest.mark.parametrize(
    "actor",
    [ARB2, ADM, EMP, CON, SYS, Actor("u-arb", ADMIN), Actor("u-arb", EMPLOYER)],
)
def test_nobody_but_the_assigned_arbiter_issues_the_verdict(
    actor: Actor, arbitrating: Builder, refused: Refused, decide: Decide
) -> None:
    dispute = arbitrating()
    refused(dispute, "forbidden", lambda: decide(dispute, actor, HELD, 0))


def test_without_an_assigned_arbiter_no_verdict_and_authorization_comes_first(
    arbitrating: Builder, negotiating: Builder, refused: Refused, decide: Decide
) -> None:
    dispute = arbitrating(arbiter=None)
    refused(dispute, "forbidden", lambda: decide(dispute, ARB, HELD, 0))
    dispute = negotiating()
    refused(dispute, "forbidden", lambda: decide(dispute, ARB, 1, 2))


def test_one_verdict_only(arbitrating: Builder, refused: Refused, decide: Decide) -> None:
    dispute = arbitrating()
    decide(dispute, ARB, HELD, 0)
    refused(dispute, "invalid_state", lambda: decide(dispute, ARB, 0, HELD))


@given(
    held=st.integers(1, 10**15),
    contractor_offset=st.integers(-3, 3),
    employer_offset=st.integers(-3, 3),
    fraction=st.fractions(0, 1),
)
@settings(max_examples=200, deadline=None, database=None)
def test_a_verdict_is_accepted_exactly_when_both_shares_are_natural_and_sum_to_held(
    held: int,
    contractor_offset: int,
    employer_offset: int,
    fraction: Fraction,
    negotiating: Builder,
    at: At,
    refused: Refused,
    decide: Decide,
) -> None:
    contractor = int(held * fraction) + contractor_offset
    employer = held - int(held * fraction) + employer_offset
    dispute = negotiating(held=held)
    dispute.escalate(EMP, at(2))
    dispute.assign_arbiter(ADM, "u-arb", at(3))
    valid = contractor >= 0 and employer >= 0 and contractor + employer == held
    if valid:
        decide(dispute, ARB, contractor, employer)
        assert dispute.verdict is not None
        assert dispute.verdict.contractor_amount + dispute.verdict.employer_amount == held
    else:
        refused(dispute, "invalid_amount", lambda: decide(dispute, ARB, contractor, employer))
