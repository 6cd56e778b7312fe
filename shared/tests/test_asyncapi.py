"""The committed AsyncAPI document is the one the code generates, and says what it should: every
reference resolves inside it, each message has its own payload, the Kafka key of each message is
the one its producers key it by, the servers' security and the commands' reply. The official
tools' verdict is `tests/test_asyncapi_official_tools.py`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from shared.cli.common import AGGREGATE_KEYS
from shared.contract.asyncapi import _probe, document, key_fields, render
from shared.contract.base import Actor, Role
from shared.contract.envelope import new_event
from shared.contract.escrow import (
    EscrowKind,
    EscrowReleased,
    EscrowSnapshot,
    EscrowState,
    ReleaseEscrow,
)
from shared.contract.payments import PaymentPurpose, PaymentReceived, StartPayment
from shared.contract.registry import COMMAND_TOPICS, SPECS
from shared.contract.results import CommandResult
from shared.signing import Signer

COMMITTED = Path(__file__).parents[2] / "docs" / "asyncapi.json"
REQUIRED = {"specversion", "id", "source", "type", "time", "datacontenttype"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads(render())


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _at(event: dict[str, Any], location: str) -> Any:
    """The value a runtime expression `$message.payload#/a/b` names in `event`, or None."""
    node: Any = event
    for part in location.removeprefix("$message.payload#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def test_the_committed_asyncapi_document_is_current():
    assert COMMITTED.exists(), "run `make asyncapi` and commit docs/asyncapi.json"
    assert COMMITTED.read_text() == render(), "docs/asyncapi.json is stale: run `make asyncapi`"


def test_every_reference_resolves_inside_the_document(doc):
    assert "$defs" not in json.dumps(doc)
    refs = set(_refs(doc))
    assert len(refs) > 100
    for ref in refs:
        _resolve(doc, ref)


def test_every_message_topic_key_and_dead_letter_is_described(doc):
    assert doc["asyncapi"] == "3.0.0"
    for type_, spec in SPECS.items():
        channel = doc["channels"][spec.topic]
        assert type_ in channel["messages"]
        message = doc["components"]["messages"][type_]
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["contentType"] == "application/cloudevents+json"
    assert "escrow-commands.dlq" in doc["channels"]
    dead = doc["components"]["messages"]["DeadLetter"]["headers"]["properties"]
    assert "x-dlq-reason" in dead
    receivers = {k.split(".")[0] for k in doc["operations"] if ".receive." in k}
    assert receivers == {"escrow", "payments", "disputes", "notifications"}
    assert document()["channels"]["user-contacts"]["bindings"]["kafka"]["topicConfiguration"] == {
        "cleanup.policy": ["compact"]
    }


def test_each_message_has_its_own_payload_with_its_own_data(doc):
    schemas = doc["components"]["schemas"]
    for type_, spec in SPECS.items():
        payload = doc["components"]["messages"][type_]["payload"]
        assert payload == {"$ref": f"#/components/schemas/{type_}"}
        envelope, own = schemas[type_]["allOf"]
        attributes = _resolve(doc, envelope["$ref"])
        required = set(attributes["required"])
        if spec.kind == "command":
            assert required == REQUIRED | {"actortoken"}, type_
        else:
            assert required == REQUIRED | {"signature", "signaturekeyid"}, type_
            assert "actortoken" not in attributes["properties"]
            assert own["properties"]["source"]["const"] == spec.producer
        assert attributes["properties"]["id"]["format"] == "uuid"
        assert own["properties"]["type"]["const"] == type_
        assert own["required"] == ["type", "data"]
        data = _resolve(doc, own["properties"]["data"]["$ref"])
        assert set(data["properties"]) == set(spec.model.model_fields), type_
    released = schemas["escrow.EscrowReleased.v1"]["allOf"][1]["properties"]["data"]
    assert "gross" in _resolve(doc, released["$ref"])["properties"]


def _released() -> EscrowReleased:
    now = datetime.now(UTC)
    escrow = EscrowSnapshot(
        escrow_id="esc-1",
        contract_id="contract-1",
        employer_id="employer-1",
        contractor_id="contractor-1",
        kind=EscrowKind.INSTANT,
        currency="IRR",
        amount=100_000,
        state=EscrowState.RELEASED,
        created_at=now,
        updated_at=now,
        version=4,
    )
    return EscrowReleased(escrow=escrow, gross=100_000, fee=10_000, net=90_000)


def _located_key(doc: dict[str, Any], type_: str, event: dict[str, Any]) -> Any:
    key = doc["components"]["messages"][type_]["bindings"]["kafka"]["key"]
    return next(v for v in (_at(event, loc) for loc in key["x-key-location"]) if v is not None)


def test_the_documented_key_is_the_key_the_producers_use(doc):
    """Real messages, keyed as the runtime and the client key them (`kafka_key()`), and where
    the document says their key is; direct payments are keyed by their payment id."""
    actor = Actor(user_id="employer-1", role=Role.EMPLOYER)
    direct = StartPayment(
        actor=actor,
        payment_id="pay-1",
        purpose=PaymentPurpose.DIRECT,
        amount=5000,
        currency="IRR",
        payee_id="contractor-1",
    )
    funding = direct.model_copy(update={"purpose": PaymentPurpose.ESCROW, "escrow_id": "esc-1"})
    received = PaymentReceived(
        payment_id="pay-1",
        purpose=PaymentPurpose.DIRECT,
        payer_id="employer-1",
        amount=5000,
        currency="IRR",
        payee_id="contractor-1",
        gateway="sandbox",
        reference="ref-1",
        guaranteed=False,
    )
    released = _released()
    result = CommandResult(command_id="cmd-1", command_type=direct.TYPE, status="accepted")
    cases = [
        (direct, "pay-1"),
        (funding, "esc-1"),
        (received, "pay-1"),
        (released, "esc-1"),
        (result, "cmd-1"),
    ]
    for message, expected in cases:
        assert message.kafka_key() == expected
        event = new_event(message, source="test").model_dump(mode="json", exclude_none=True)
        type_ = "escrow.CommandResult.v1" if message is result else message.TYPE
        assert _located_key(doc, type_, event) == expected, type_


def test_the_cli_keys_commands_as_the_document_says():
    """`escrowctl` keys a command by the first of AGGREGATE_KEYS its data has: the same field."""
    for spec in SPECS.values():
        if spec.kind != "command":
            continue
        for nulls in (False, True):
            data = {k: v for k, v in _probe(spec.model, nulls=nulls) if v is not None}
            cli = next((k for k in AGGREGATE_KEYS if data.get(k)), None)
            assert cli in key_fields(spec.model), (spec.type, cli, key_fields(spec.model))
            assert spec.model.model_construct(**data).kafka_key() == data[cli], spec.type


def test_the_production_server_names_its_security_schemes(doc):
    assert doc["servers"]["development"]["protocol"] == "kafka"
    assert "security" not in doc["servers"]["development"]
    production = doc["servers"]["production"]
    schemes = [_resolve(doc, s["$ref"])["type"] for s in production["security"]]
    assert schemes == ["scramSha512", "X509"]


def test_every_command_is_answered_by_its_contexts_command_result(doc):
    for type_, spec in SPECS.items():
        message = doc["components"]["messages"][type_]
        if spec.kind == "result":
            assert message["correlationId"]["location"] == "$message.payload#/data/command_id"
            assert "command_id" in CommandResult.model_fields
        if spec.kind != "command":
            continue
        assert message["correlationId"]["location"] == "$message.payload#/id"
        operation = doc["operations"][f"marketplace.send.{type_}"]
        answer = f"{COMMAND_TOPICS[spec.topic]}.CommandResult.v1"
        assert operation["reply"] == {
            "channel": {"$ref": "#/channels/command-results"},
            "messages": [{"$ref": f"#/channels/command-results/messages/{answer}"}],
        }
    for topic in COMMAND_TOPICS:
        receivers = [o for o in doc["operations"] if o.endswith(f".receive.{topic}")]
        assert receivers
        for name in receivers:
            assert doc["operations"][name]["reply"]["channel"] == {
                "$ref": "#/channels/command-results"
            }


def _validator(doc: dict[str, Any], type_: str) -> jsonschema.Draft7Validator:
    """The document's payload schema of `type_`, its references resolved inside the document."""
    schema = {**doc, "$ref": f"#/components/schemas/{type_}"}
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_what_the_producers_send_is_what_the_document_describes(doc):
    """Events as the runtime signs them and commands as `SuiteClient` wraps them validate
    against their own payload; one without a required attribute, or another producer's, not."""
    escrow = Signer.generate("escrow", "k1")
    released = _released()
    event = new_event(released, source="escrow", signer=escrow).model_dump(
        mode="json", exclude_none=True
    )
    validator = _validator(doc, released.TYPE)
    validator.validate(event)
    for broken in (
        {k: v for k, v in event.items() if k != "signature"},
        {k: v for k, v in event.items() if k != "specversion"},
        {**event, "source": "payments"},
        {**event, "id": "not-a-uuid"},
        {**event, "data": {k: v for k, v in event["data"].items() if k != "gross"}},
    ):
        assert not validator.is_valid(broken)

    actor = Actor(user_id="employer-1", role=Role.EMPLOYER)
    release = ReleaseEscrow(actor=actor, escrow_id="esc-1", amount=100_000)
    command = new_event(release, source="marketplace", actortoken="jwt").model_dump(
        mode="json", exclude_none=True
    )
    validator = _validator(doc, release.TYPE)
    validator.validate(command)
    assert not validator.is_valid({k: v for k, v in command.items() if k != "actortoken"})
    assert not validator.is_valid({**command, "type": "escrow.RefundEscrow.v1"})

    result = CommandResult(command_id=command["id"], command_type=release.TYPE, status="accepted")
    answer = new_event(result, source="escrow", type_="escrow.CommandResult.v1", signer=escrow)
    wire = answer.model_dump(mode="json", exclude_none=True)
    _validator(doc, "escrow.CommandResult.v1").validate(wire)
