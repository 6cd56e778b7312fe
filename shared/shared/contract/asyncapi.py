"""The suite's AsyncAPI 3 document, generated from the wire contract and the running services'
subscriptions: every topic (and its dead-letter twin), message, key and header.

`make asyncapi` writes `docs/asyncapi.json`; a test keeps the committed file current. FastStream
can describe one broker's declared subscribers and publishers, but the suite's runtime consumes
through one generic subscriber and publishes through the outbox, so the registry is the truth.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.contract.envelope import CONTENT_TYPE, CloudEvent
from shared.contract.registry import COMMAND_TOPICS, COMPACTED_TOPICS, SPECS, MessageSpec, dlq

SERVICES = ("escrow", "payments", "disputes", "notifications")
#: the record key is the first of these fields a message has (see each model's `kafka_key`)
KEY_FIELDS = (
    "command_id",
    "escrow",
    "escrow_id",
    "payout_id",
    "payment_id",
    "refund_id",
    "contract_id",
    "dispute_id",
    "user_id",
)
DLQ_HEADERS = {
    "x-dlq-reason": (
        "too_large, empty, not_json, not_cloudevent, unknown_type, wrong_source, bad_signature, "
        "invalid_data, too_old, handler_failed"
    ),
    "x-dlq-error": "what went wrong, in words",
    "x-dlq-service": "the service that gave up on the record",
    "x-dlq-original-topic": "where the record was consumed",
    "x-dlq-original-partition": "its partition there",
    "x-dlq-original-offset": "its offset there",
    "x-dlq-time": "when it was dead-lettered (ISO 8601)",
    "x-dlq-truncated": "only when the value (or key) was cut to fit: value, key or value,key",
    "x-dlq-original-size": "only when cut: the original value's size in bytes",
    "x-dlq-original-sha256": "only when cut: the sha256 of the original value (hex)",
}


def consumers() -> dict[str, list[str]]:
    """Topic -> the services that consume it, read from each service's registered handlers."""
    found: dict[str, list[str]] = {}
    for name in SERVICES:
        build = importlib.import_module(f"{name}.entrypoints.app").build
        for topic in build().runtime.topics:
            found.setdefault(topic, []).append(name)
    return found


def producer(spec: MessageSpec) -> str:
    """Who publishes it: its owner, and the marketplace for commands."""
    return spec.producer or "marketplace"


def _key(spec: MessageSpec) -> str:
    fields = spec.model.model_fields
    return next((f for f in KEY_FIELDS if f in fields), "id")


def _message(spec: MessageSpec) -> dict[str, Any]:
    key = _key(spec)
    return {
        "name": spec.type,
        "title": spec.model.__name__,
        "summary": (spec.model.__doc__ or spec.model.__name__).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
        },
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEvent"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": spec.type},
                        "data": {"$ref": f"#/components/schemas/{spec.type}"},
                    },
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"the `{'escrow.escrow_id' if key == 'escrow' else key}` "
                    "of the message (the aggregate id)",
                },
                "bindingVersion": "0.5.0",
            }
        },
    }


def _channel(topic: str, specs: list[MessageSpec]) -> dict[str, Any]:
    policy = "compact" if topic in COMPACTED_TOPICS else "delete"
    return {
        "address": topic,
        "description": f"Prefixed on the wire by TOPIC_PREFIX; dead letters go to {dlq(topic)}.",
        "messages": {s.type: {"$ref": f"#/components/messages/{s.type}"} for s in specs},
        "bindings": {
            "kafka": {
                "topic": topic,
                "topicConfiguration": {"cleanup.policy": [policy]},
                "bindingVersion": "0.5.0",
            }
        },
    }


def _dlq_channel(topic: str) -> dict[str, Any]:
    return {
        "address": dlq(topic),
        "description": f"Records of {topic} that can never be processed, byte for byte, "
        "with the reason in headers.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }


def _operations(
    by_topic: dict[str, list[MessageSpec]], consumed: dict[str, list[str]]
) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for topic, specs in sorted(by_topic.items()):
        ref = {"$ref": f"#/channels/{topic}"}
        for spec in specs:
            operations[f"{producer(spec)}.send.{spec.type}"] = {
                "action": "send",
                "channel": ref,
                "messages": [{"$ref": f"#/channels/{topic}/messages/{spec.type}"}],
            }
        for service in consumed.get(topic, []):
            operations[f"{service}.receive.{topic}"] = {"action": "receive", "channel": ref}
            operations[f"{service}.send.{dlq(topic)}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlq(topic)}"},
            }
    return operations


def document() -> dict[str, Any]:
    by_topic: dict[str, list[MessageSpec]] = {}
    for spec in sorted(SPECS.values(), key=lambda s: s.type):
        by_topic.setdefault(spec.topic, []).append(spec)
    consumed = consumers()
    channels: dict[str, Any] = {}
    for topic, specs in sorted(by_topic.items()):
        channels[topic] = _channel(topic, specs)
        if topic in consumed or topic in COMMAND_TOPICS:
            channels[dlq(topic)] = _dlq_channel(topic)
    schemas: dict[str, Any] = {"CloudEvent": CloudEvent.model_json_schema()}
    schemas.update({t: s.model.model_json_schema() for t, s in sorted(SPECS.items())})
    messages = {t: _message(s) for t, s in sorted(SPECS.items())}
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "summary": "The original record's value and key, unchanged.",
        "headers": {
            "type": "object",
            "properties": {h: {"type": "string", "description": d} for h, d in DLQ_HEADERS.items()},
        },
        "payload": {"description": "the original bytes"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Escrow suite",
            "version": "0.1.0",
            "description": "Secure payment (پرداخت امن) for freelance marketplaces: every "
            "message is a CloudEvents 1.0 event in structured JSON mode; commands carry the "
            "`actortoken` extension and are answered on command-results. Every other message "
            "is signed by its producer (the owner of its type: escrow, payments, disputes, or "
            "the marketplace for user-contacts) with Ed25519, in the extensions "
            "`signaturekeyid` (the producer's key id) and `signature` (base64url without "
            "padding of the signature of the RFC 8785 canonical JSON of the whole event "
            "without `signature`); its `source` is the producer's name. Consumers dead-letter "
            "a message with another source (`wrong_source`) or no valid signature by one of "
            "the producer's keys (`bad_signature`).",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "development": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "make run: the embedded Tansu broker",
            },
            "production": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "variables": {"bootstrap": {"description": "KAFKA_BOOTSTRAP_SERVERS"}},
            },
        },
        "channels": channels,
        "operations": _operations(by_topic, consumed),
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(f"wrote {target}")
