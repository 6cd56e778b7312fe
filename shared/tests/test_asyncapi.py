"""The committed AsyncAPI document is the one the code generates, and says what it should."""

from __future__ import annotations

import json
from pathlib import Path

from shared.contract.asyncapi import document, render
from shared.contract.registry import SPECS

COMMITTED = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def test_the_committed_asyncapi_document_is_current():
    assert COMMITTED.exists(), "run `make asyncapi` and commit docs/asyncapi.json"
    assert COMMITTED.read_text() == render(), "docs/asyncapi.json is stale: run `make asyncapi`"


def test_every_message_topic_key_and_dead_letter_is_described():
    doc = json.loads(render())
    assert doc["asyncapi"].startswith("3.")
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
