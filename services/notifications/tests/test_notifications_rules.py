"""The rules table: it covers the whole public contract, and names the right people."""

from __future__ import annotations

import pytest
from notifications.domain.rules import RULES, SILENT, kind_of, recipients
from notifications.domain.templates import TEMPLATES
from shared.contract import directory, disputes, escrow, payments
from shared.contract.base import Event, Role
from shared.contract.disputes import DisputeDeadlineDue, StatementSubmitted
from shared.contract.escrow import EscrowFunded
from shared.contract.payments import PaymentFailed, PaymentReceived

EVERY_EVENT = {*escrow.EVENTS, *disputes.EVENTS, *payments.EVENTS} - set(directory.EVENTS)


def test_every_public_event_is_either_told_or_silent_with_a_reason():
    told = {rule.event for rule in RULES}
    assert told | set(SILENT) == EVERY_EVENT
    assert not told & set(SILENT)
    assert all(reason for reason in SILENT.values())


def test_every_rule_names_a_template_written_in_both_languages():
    for rule in RULES:
        assert set(TEMPLATES[rule.template]) == {"fa", "en"}, rule


def test_every_rule_has_an_example_that_reaches_someone(example_events):
    assert {rule.event for rule in RULES} <= set(example_events)
    for model in {rule.event for rule in RULES}:
        assert recipients(example_events[model]), model


def test_a_funded_escrow_tells_both_parties_with_their_own_template(example_events):
    told = {(r.user_id, r.role, r.template) for r in recipients(example_events[EscrowFunded])}
    assert told == {
        ("emp-1", Role.EMPLOYER, "escrow_funded_employer"),
        ("con-1", Role.CONTRACTOR, "escrow_funded_contractor"),
    }
    assert kind_of(EscrowFunded) == "escrow"


def test_the_author_of_a_statement_is_not_told_about_it(example_events):
    event = example_events[StatementSubmitted]
    assert isinstance(event, StatementSubmitted) and event.by == "con-1"
    assert {r.user_id for r in recipients(event)} == {"emp-1", "arb-1"}
    assert {r.kind for r in recipients(event)} == {"dispute"}


@pytest.mark.parametrize(
    ("party", "told"),
    [(None, {"emp-1", "con-1", "arb-1"}), ("contractor", {"con-1"}), ("emp-1", {"emp-1"})],
)
def test_a_deadline_that_names_its_party_tells_only_that_party(example_events, party, told):
    event = example_events[DisputeDeadlineDue].model_copy(update={"party": party})
    assert {r.user_id for r in recipients(event)} == told


def test_a_direct_payment_tells_payer_and_payee_an_escrow_payment_only_the_payer(example_events):
    direct = example_events[PaymentReceived]
    assert {r.template for r in recipients(direct)} == {
        "payment_received",
        "direct_payment_received",
    }
    failed = example_events[PaymentFailed]
    assert [(r.user_id, r.template) for r in recipients(failed)] == [("emp-1", "payment_failed")]


def test_a_person_in_two_roles_is_told_once(example_events):
    event: Event = example_events[EscrowFunded]
    assert isinstance(event, EscrowFunded)
    same = event.model_copy(
        update={"escrow": event.escrow.model_copy(update={"contractor_id": "emp-1"})}
    )
    assert [r.user_id for r in recipients(same)] == ["emp-1"]
