"""The wire contract: strict money, commands that refuse unknown fields, one registry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from shared.contract import registry
from shared.contract.base import MAX_AMOUNT, Actor, Command, Role
from shared.contract.envelope import CloudEvent, EnvelopeError, decode, new_event
from shared.contract.escrow import EscrowKind, EscrowSnapshot, EscrowState, ReleaseEscrow
from shared.contract.payments import StartPayment
from shared.contract.schemas import export, message_schemas

EMPLOYER = {"user_id": "e-1", "role": "employer"}


def release(amount: object) -> dict[str, object]:
    return {"actor": EMPLOYER, "escrow_id": "es-1", "amount": amount}


@pytest.mark.parametrize("amount", [1, 5_000, MAX_AMOUNT])
def test_amounts_within_bounds_are_accepted(amount):
    assert ReleaseEscrow.model_validate(release(amount)).amount == amount


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 1.0, 10.5, "100", True, None])
def test_amounts_out_of_bounds_or_not_integers_are_refused(amount):
    if amount is None:  # None means "all that is held" for a release
        assert ReleaseEscrow.model_validate(release(None)).amount is None
        return
    with pytest.raises(ValidationError):
        ReleaseEscrow.model_validate(release(amount))


def test_commands_refuse_unknown_fields_and_events_ignore_them():
    with pytest.raises(ValidationError, match="extra"):
        ReleaseEscrow.model_validate({**release(5), "colour": "red"})
    snapshot = _snapshot() | {"added_in_v1_7": "whatever"}
    assert EscrowSnapshot.model_validate(snapshot).escrow_id == "es-1"


def test_a_payment_names_its_target():
    base = {"actor": EMPLOYER, "payment_id": "p-1", "amount": 10, "currency": "IRR"}
    with pytest.raises(ValidationError, match="escrow_id"):
        StartPayment.model_validate({**base, "purpose": "escrow"})
    with pytest.raises(ValidationError, match="payee_id"):
        StartPayment.model_validate({**base, "purpose": "direct"})


def test_every_type_is_named_context_name_version_and_topics_are_kebab_case():
    for spec in registry.SPECS.values():
        assert re.fullmatch(r"[a-z]+\.[A-Z][A-Za-z]+\.v\d+", spec.type), spec.type
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", spec.topic), spec.topic
        assert spec.topic == spec.model.TOPIC


def test_commands_live_on_their_contexts_command_topic():
    for spec in registry.SPECS.values():
        if spec.kind == "command":
            assert registry.COMMAND_TOPICS[spec.topic] == spec.type.split(".")[0]
            assert issubclass(spec.model, Command)


def test_one_event_type_per_event_topic():
    topics = [s.topic for s in registry.SPECS.values() if s.kind == "event"]
    assert len(topics) == len(set(topics))


def test_the_topics_of_design_section_7_exist():
    named = [
        "payment-received",
        "payment-failed",
        "escrow-requested",
        "escrow-created",
        "escrow-funded",
        "funding-rejected",
        "work-delivered",
        "escrow-released",
        "escrow-refunded",
        "escrow-disputed",
        "escrow-dispute-rejected",
        "escrow-settled",
        "escrow-cancelled",
        "dispute-opened",
        "dispute-withdrawn",
        "verdict-issued",
        "payout-completed",
        "payout-failed",
        "refund-completed",
        "refund-failed",
        "escrow-commands",
        "dispute-commands",
        "payment-commands",
        "command-results",
        "user-contacts",
    ]
    assert set(named) <= set(registry.all_topics())


def test_prefix_and_dead_letter_names():
    assert registry.on_wire("escrow-funded", "karoman.") == "karoman.escrow-funded"
    assert registry.off_wire("karoman.escrow-funded", "karoman.") == "escrow-funded"
    assert registry.dlq("escrow-funded") == "escrow-funded.dlq"
    assert registry.topics_with_dlq(["a"]) == ["a", "a.dlq"]


def test_envelope_round_trip_keeps_correlation_and_causation():
    command = ReleaseEscrow.model_validate(release(7))
    cause = new_event(command, source="marketplace", actortoken="jwt")
    effect = new_event(command, source="escrow", cause=cause)
    decoded = decode(effect.encode())
    assert decoded == effect
    assert decoded.causationid == cause.id
    assert decoded.correlationid == cause.id
    assert json.loads(cause.encode())["actortoken"] == "jwt"
    assert json.loads(effect.encode())["specversion"] == "1.0"


def test_unknown_cloudevent_extensions_are_kept():
    raw = new_event(ReleaseEscrow.model_validate(release(7)), source="x").model_dump(mode="json")
    raw["traceparent"] = "00-abc"
    assert decode(json.dumps(raw).encode()).model_extra == {"traceparent": "00-abc"}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"{nope", "not_json"),
        (b"[1]", "not_cloudevent"),
        (b'{"id": "x"}', "not_cloudevent"),
    ],
)
def test_undecodable_records_name_their_reason(raw, reason):
    with pytest.raises(EnvelopeError) as refused:
        decode(raw)
    assert refused.value.reason == reason


@given(st.binary(max_size=200))
def test_decode_never_fails_with_anything_but_an_envelope_error(raw):
    try:
        decode(raw)
    except EnvelopeError:
        pass


def test_every_message_exports_a_json_schema(tmp_path):
    schemas = message_schemas()
    assert set(registry.SPECS) <= set(schemas)
    release_schema = schemas["escrow.ReleaseEscrow.v1"]
    assert release_schema["additionalProperties"] is False
    written = export(tmp_path)
    assert len(written) == len(schemas)
    assert (
        json.loads((tmp_path / "escrow.ReleaseEscrow.v1.schema.json").read_text()) == release_schema
    )


def test_actor_roles():
    assert Actor(user_id="a", role=Role.ARBITER).role == "arbiter"
    with pytest.raises(ValidationError):
        Actor.model_validate({"user_id": "a", "role": "king"})


def _snapshot() -> dict[str, object]:
    now = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return {
        "escrow_id": "es-1",
        "contract_id": "c-1",
        "employer_id": "e-1",
        "contractor_id": "k-1",
        "kind": EscrowKind.AGREED,
        "currency": "IRR",
        "amount": 10,
        "state": EscrowState.FUNDED,
        "created_at": now,
        "updated_at": now,
        "version": 3,
    }


def test_cloudevent_requires_its_attributes():
    with pytest.raises(ValueError):
        CloudEvent.model_validate({"id": "1", "source": "s", "type": "t", "data": {}})
