"""Negotiation: statements with evidence, settlement proposals, acceptance and escalation."""

from collections.abc import Callable
from datetime import datetime
from functools import partial

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
    Evidence,
)
from disputes.domain.events import (
    DisputeEscalated,
    SettlementAccepted,
    SettlementProposed,
    StatementSubmitted,
    VerdictIssued,
)

HELD = 1_000_000
EMP, CON = Actor("u-emp", EMPLOYER), Actor("u-con", CONTRACTOR)
ADM, ARB, SYS = Actor("u-admin", ADMIN), Actor("u-arb", ARBITER), Actor("system", SYSTEM)
At = Callable[[int], datetime]
Builder = Callable[..., Dispute]
Refused = Callable[..., DisputeRefusal]
SHA = "ab" * 32


def evidence(**changes: str) -> Evidence:
    fields = {
        "name": "invoice.pdf",
        "media_type": "application/pdf",
        "sha256": SHA,
        "uri": "s3://evidence/d-1/invoice.pdf",
    }
    return Evidence(**(fields | changes))


@pytest.mark.parametrize("actor", [EMP, CON])
def test_either_party_submits_statements_with_evidence(
    actor: Actor, negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    statement = dispute.submit_statement(actor, "see invoice", [evidence()], at(5))
    assert (statement.statement_no, statement.author, statement.at) == (2, actor, at(5))
    assert statement.evidence == (evidence(),)
    assert dispute.statements[-1] == statement and dispute.version == 3
    assert dispute.events[-1] == StatementSubmitted(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(5),
        statement_no=2,
        author_id=actor.user_id,
        author_role=actor.role,
        evidence=(evidence(),),
    )


def test_statements_are_allowed_in_arbitration_but_not_before_the_escrow_is_frozen(
    arbitrating: Builder, opened: Builder, at: At, refused: Refused
) -> None:
    dispute = arbitrating()
    dispute.submit_statement(CON, "more", [], at(5))
    assert len(dispute.statements) == 2
    pending = opened()
    refused(pending, "invalid_state", lambda: pending.submit_statement(CON, "x", [], at(1)))


@pytest.mark.parametrize(
    "actor", [ADM, ARB, SYS, Actor("u-x", EMPLOYER), Actor("u-con", EMPLOYER), Actor("u-emp", "x")]
)
def test_only_the_parties_submit_statements(
    actor: Actor, negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    refused(dispute, "forbidden", lambda: dispute.submit_statement(actor, "x", [], at(5)))


def test_evidence_digest_and_media_type_are_normalised_to_lower_case(
    negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    item = evidence(sha256=SHA.upper(), media_type="Image/PNG")
    statement = dispute.submit_statement(EMP, "photo", [item], at(5))
    assert (statement.evidence[0].sha256, statement.evidence[0].media_type) == (SHA, "image/png")


@pytest.mark.parametrize(
    "changes",
    [
        {"sha256": "ab" * 31 + "a"},
        {"sha256": "ab" * 32 + "a"},
        {"sha256": "zz" * 32},
        {"sha256": ""},
        {"name": ""},
        {"name": "   "},
        {"name": "n" * 256},
        {"media_type": "pdf"},
        {"media_type": "application/"},
        {"media_type": "a b/c"},
        {"uri": "javascript:alert(1)"},
        {"uri": "file:///etc/passwd"},
        {"uri": "invoice.pdf"},
        {"uri": "https://"},
        {"uri": "https://x/a b"},
        {"uri": "https://[::1"},
        {"uri": ""},
    ],
)
def test_unusable_evidence_is_malformed(
    changes: dict[str, str], negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    refused(
        dispute,
        "malformed",
        lambda: dispute.submit_statement(EMP, "x", [evidence(**changes)], at(5)),
    )


def test_statement_needs_text_and_at_most_twenty_evidence_items(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    refused(dispute, "malformed", lambda: dispute.submit_statement(EMP, " ", [], at(5)))
    refused(
        dispute, "malformed", lambda: dispute.submit_statement(EMP, "x", [evidence()] * 21, at(5))
    )
    dispute.submit_statement(EMP, "x", [evidence()] * 20, at(5))


@pytest.mark.parametrize("amount", [0, 1, 400_000, HELD - 1, HELD])
def test_a_proposal_gives_the_employer_the_rest(amount: int, negotiating: Builder, at: At) -> None:
    dispute = negotiating()
    proposal = dispute.propose_settlement(CON, amount, at(5))
    assert (proposal.proposal_no, proposal.contractor_amount) == (1, amount)
    assert proposal.employer_amount == HELD - amount
    assert dispute.events[-1] == SettlementProposed(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(5),
        proposal_no=1,
        proposed_by="u-con",
        proposer_role="contractor",
        contractor_amount=amount,
        employer_amount=HELD - amount,
        currency="IRR",
    )


@pytest.mark.parametrize("amount", [-1, HELD + 1, True, False, 1.0, "5", None])
def test_a_proposal_must_split_the_held_amount(
    amount: object, negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    refused(dispute, "invalid_amount", lambda: dispute.propose_settlement(CON, amount, at(5)))  # type: ignore[arg-type]


def test_proposals_only_during_negotiation_and_only_by_parties(
    arbitrating: Builder, negotiating: Builder, opened: Builder, at: At, refused: Refused
) -> None:
    for dispute in (opened(), arbitrating()):
        refused(dispute, "invalid_state", partial(dispute.propose_settlement, EMP, 1, at(9)))
    dispute = negotiating()
    refused(dispute, "forbidden", lambda: dispute.propose_settlement(ADM, 1, at(9)))


def test_the_other_party_accepts_and_the_proposal_becomes_an_agreement_verdict(
    negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(EMP, 300_000, at(5))
    dispute.accept_settlement(CON, 1, at(6))
    assert dispute.verdict is not None and dispute.state == "negotiation"
    assert (dispute.verdict.kind, dispute.verdict.arbiter_id) == ("agreement", None)
    assert dispute.events[-2:] == [
        SettlementAccepted(
            dispute_id="d-1",
            escrow_id="esc-1",
            at=at(6),
            proposal_no=1,
            accepted_by="u-con",
            contractor_amount=300_000,
            employer_amount=700_000,
            currency="IRR",
        ),
        VerdictIssued(
            dispute_id="d-1",
            escrow_id="esc-1",
            at=at(6),
            kind="agreement",
            contractor_amount=300_000,
            employer_amount=700_000,
            currency="IRR",
            arbiter_id=None,
        ),
    ]


def test_the_proposer_may_not_accept_his_own_proposal(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(CON, 300_000, at(5))
    refused(dispute, "forbidden", lambda: dispute.accept_settlement(CON, 1, at(6)))
    for actor in (ADM, ARB, SYS, Actor("u-x", EMPLOYER)):
        refused(dispute, "forbidden", partial(dispute.accept_settlement, actor, 1, at(6)))


def test_only_the_latest_proposal_can_be_accepted(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(EMP, 100_000, at(5))
    dispute.propose_settlement(CON, 900_000, at(6))
    refused(dispute, "invalid_state", lambda: dispute.accept_settlement(CON, 1, at(7)))
    refused(dispute, "forbidden", lambda: dispute.accept_settlement(CON, 2, at(7)))
    dispute.accept_settlement(EMP, 2, at(7))
    assert dispute.verdict is not None and dispute.verdict.contractor_amount == 900_000


@pytest.mark.parametrize("number", [0, 2, -1, True, "1", None])
def test_accepting_an_unknown_proposal_is_not_found(
    number: object, negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(EMP, 100_000, at(5))
    refused(dispute, "not_found", lambda: dispute.accept_settlement(CON, number, at(6)))  # type: ignore[arg-type]


def test_nothing_more_is_negotiated_after_an_agreement(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(EMP, 100_000, at(5))
    dispute.accept_settlement(CON, 1, at(6))
    refused(dispute, "invalid_state", lambda: dispute.accept_settlement(CON, 1, at(7)))
    refused(dispute, "invalid_state", lambda: dispute.propose_settlement(CON, 5, at(7)))
    refused(dispute, "invalid_state", lambda: dispute.submit_statement(CON, "x", [], at(7)))
    refused(dispute, "invalid_state", lambda: dispute.escalate(CON, at(7)))


def test_a_proposal_made_in_negotiation_cannot_be_accepted_in_arbitration(
    negotiating: Builder, at: At, refused: Refused
) -> None:
    dispute = negotiating()
    dispute.propose_settlement(EMP, 100_000, at(5))
    dispute.escalate(EMP, at(6))
    refused(dispute, "invalid_state", lambda: dispute.accept_settlement(CON, 1, at(7)))


@pytest.mark.parametrize("actor", [EMP, CON])
def test_either_party_escalates_to_arbitration_at_once(
    actor: Actor, negotiating: Builder, at: At
) -> None:
    dispute = negotiating()
    dispute.escalate(actor, at(5))
    assert (dispute.state, dispute.arbitration_started_at) == ("arbitration", at(5))
    assert dispute.events[-1] == DisputeEscalated(
        dispute_id="d-1",
        escrow_id="esc-1",
        at=at(5),
        by="party",
        cause="party_request",
        requested_by=actor.user_id,
    )


def test_escalation_is_refused_outside_negotiation_and_to_strangers(
    arbitrating: Builder, negotiating: Builder, opened: Builder, at: At, refused: Refused
) -> None:
    for dispute in (opened(), arbitrating()):
        refused(dispute, "invalid_state", partial(dispute.escalate, EMP, at(9)))
    dispute = negotiating()
    for actor in (ADM, ARB, SYS, Actor("u-x", CONTRACTOR)):
        refused(dispute, "forbidden", partial(dispute.escalate, actor, at(9)))
