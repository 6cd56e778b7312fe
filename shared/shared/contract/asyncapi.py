"""The suite's AsyncAPI 3 document, generated from the wire contract and the running services'
subscriptions: every topic (and its dead-letter twin), message, key, header, server and reply.

`make asyncapi` writes `docs/asyncapi.json`; a test keeps the committed file current and another
runs the official AsyncAPI parser and Modelina on it (`tools/asyncapi/`). FastStream can describe
one broker's declared subscribers and publishers, but the suite's runtime consumes through one
generic subscriber and publishes through the outbox, so the registry is the truth.

Shape: every schema is under `components/schemas` (pydantic's `$defs` of all models hoisted there
at once, so names are unique and every `$ref` points into the document); every message has its
own payload schema, named by its CloudEvents type: the envelope of its kind (command, or event and
result) and its own `data`; its Kafka key is read off the model's `kafka_key()`.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.contract.base import Message
from shared.contract.envelope import CONTENT_TYPE, CloudEvent
from shared.contract.registry import (
    COMMAND_RESULTS,
    COMMAND_TOPICS,
    COMPACTED_TOPICS,
    SPECS,
    MessageSpec,
    dlq,
)
from shared.contract.results import result_type

SERVICES = ("escrow", "payments", "disputes", "notifications")
SCHEMAS = "#/components/schemas/"
BINDING_VERSION = "0.5.0"
#: the envelope schema of each kind of message; commands carry an actor token, the others a
#: signature by their producer (a consumer dead-letters an unsigned one, `bad_signature`)
ENVELOPES = {"command": "CommandEnvelope", "event": "EventEnvelope", "result": "EventEnvelope"}
REQUIRED = ("specversion", "id", "source", "type", "time", "datacontenttype")
EXTENSIONS = {
    "CommandEnvelope": ("actortoken",),
    "EventEnvelope": ("signature", "signaturekeyid"),
}
#: attributes a kind does not carry (still accepted: unknown extensions are kept, never refused)
NOT_CARRIED = {
    "CommandEnvelope": ("signature", "signaturekeyid"),
    "EventEnvelope": ("actortoken",),
}
ATTRIBUTES = {
    "specversion": "the CloudEvents version: always 1.0",
    "id": "a UUID; a command's id is its idempotency key and comes back as the result's "
    "`command_id`",
    "source": "the producer: escrow, payments, disputes (or marketplace for user-contacts); "
    "any name for a command",
    "type": "`<context>.<Name>.v<major>`",
    "time": "when it happened (RFC 3339, with its offset)",
    "datacontenttype": "always application/json",
    "correlationid": "the conversation: the id of the marketplace action it follows from",
    "causationid": "the id of the message that caused this one",
    "actortoken": "commands: the marketplace's JWT (EdDSA) for the acting user; it names the "
    "same user and role as `data.actor`",
}
MESSAGE_HEADERS = {
    "content-type": {"type": "string", "const": CONTENT_TYPE},
    "correlation_id": {
        "type": "string",
        "description": "on the records the services send only: a random id added by their "
        "Kafka client (FastStream); not the CloudEvents `correlationid`, read that from the "
        "payload",
    },
}
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
SECURITY_SCHEMES = {
    "saslScramSha512": {
        "type": "scramSha512",
        "description": "SASL_SSL with SCRAM-SHA-512 (KAFKA_SECURITY_PROTOCOL=SASL_SSL, "
        "KAFKA_SASL_MECHANISM=SCRAM-SHA-512, KAFKA_SASL_USERNAME/PASSWORD; the Strimzi "
        "KafkaUsers of deploy/), the broker's certificate checked against KAFKA_SSL_CAFILE",
    },
    "mutualTls": {
        "type": "X509",
        "description": "SSL with a client certificate (KAFKA_SECURITY_PROTOCOL=SSL, "
        "KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE, KAFKA_SSL_CAFILE)",
    },
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


# --- the Kafka key, read off the model ---------------------------------------------------------


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds (also when optional), if it holds one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next(filter(None, map(_model_of, typing.get_args(annotation))), None)
    return None


def _probe(model: type[BaseModel], *, nulls: bool, path: str = "") -> BaseModel:
    """`model` with every field its own dotted path (`escrow.escrow_id`); with `nulls`, every
    field that may be null is. Built without validation: only `kafka_key()` is asked."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        if nulls and not field.is_required() and field.default is None:
            values[name] = None
        elif nested is not None:
            values[name] = _probe(nested, nulls=nulls, path=f"{path}{name}.")
        else:
            values[name] = f"{path}{name}"
    return model.model_construct(**values)


def key_fields(model: type[Message]) -> list[str]:
    """The data fields that key a message's Kafka record, in order: the first is the key, the
    next the key when the first is null (a direct payment has no escrow: its payment id)."""
    fields: list[str] = []
    for nulls in (False, True):
        probe = _probe(model, nulls=nulls)
        assert isinstance(probe, Message)
        key = probe.kafka_key()
        if not isinstance(key, str) or not key.replace(".", "_").isidentifier():
            raise ValueError(f"{model.__name__}.kafka_key() is not one of its fields: {key!r}")
        if key not in fields:
            fields.append(key)
    return fields


def _key(spec: MessageSpec) -> dict[str, Any]:
    first, *then = key_fields(spec.model)
    text = f"`data.{first}`"
    if spec.kind == "result":
        text += " (the id of the command answered)"
    elif first in ("escrow_id", "escrow.escrow_id"):
        text += " (the escrow, so one escrow's messages keep their order)"
    if then:
        text += f", or `data.{then[0]}` when `{first}` is null"
        text += " (no escrow: a direct payment)" if first == "escrow_id" else ""
    return {
        "type": "string",
        "description": f"the record key: {text}",
        "x-key-location": [f"$message.payload#/data/{f.replace('.', '/')}" for f in (first, *then)],
    }


# --- schemas -------------------------------------------------------------------------------------


def _data_schemas() -> tuple[dict[type[Any], str], dict[str, Any]]:
    """Every model of the wire and what it references, named as pydantic names them (unique
    over all of them at once), and the `$ref` of each model's own schema."""
    models = sorted({s.model for s in SPECS.values()}, key=lambda m: m.__name__)
    refs, top = models_json_schema(
        [(m, "validation") for m in models], ref_template=SCHEMAS + "{model}"
    )
    defs: dict[str, Any] = top.get("$defs", {})
    return {m: ref["$ref"] for (m, _), ref in refs.items()}, dict(sorted(defs.items()))


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A required attribute's schema without pydantic's `None` branch and default."""
    out = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if "anyOf" in schema:
        (kept,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
        out.update(kept)
    return out


def _envelope(name: str) -> dict[str, Any]:
    """The CloudEvents attributes of one kind of message: everything but `data`."""
    base = CloudEvent.model_json_schema()
    required = [*REQUIRED, *EXTENSIONS[name]]
    properties: dict[str, Any] = {}
    for attribute, pydantic_schema in base["properties"].items():
        if attribute == "data" or attribute in NOT_CARRIED[name]:
            continue
        schema = copy.deepcopy(pydantic_schema)
        schema.pop("title", None)
        if attribute in required:
            schema = _not_null(schema)
        if attribute == "id":
            schema["format"] = "uuid"
        if attribute in ATTRIBUTES:
            schema["description"] = ATTRIBUTES[attribute]
        properties[attribute] = schema
    kind = "a command" if name == "CommandEnvelope" else "an event or a command result"
    return {
        "type": "object",
        "description": f"The CloudEvents 1.0 attributes of {kind} (structured JSON mode); "
        "unknown extensions are kept, never refused.",
        "properties": properties,
        "required": required,
        "additionalProperties": True,
    }


def _payload(spec: MessageSpec, data: str) -> dict[str, Any]:
    """One message's own payload: its envelope, its `type` (and for an event or a result its
    producer's `source`) and its own `data`."""
    attributes: dict[str, Any] = {"type": {"type": "string", "const": spec.type}}
    if spec.producer is not None:
        attributes["source"] = {"type": "string", "const": spec.producer}
    return {
        "title": spec.type,
        "description": f"The CloudEvent {spec.type}: the {ENVELOPES[spec.kind]} attributes; "
        f"`data`: {data.removeprefix(SCHEMAS)}.",
        "allOf": [
            {"$ref": SCHEMAS + ENVELOPES[spec.kind]},
            {
                "type": "object",
                "properties": {
                    **attributes,
                    "data": {"$ref": data},
                },
                "required": ["type", "data"],
            },
        ],
    }


def schemas() -> dict[str, Any]:
    refs, found = _data_schemas()
    own = {name: _envelope(name) for name in sorted(set(ENVELOPES.values()))}
    own.update({t: _payload(s, refs[s.model]) for t, s in sorted(SPECS.items())})
    own["DeadLetterValue"] = {
        "title": "DeadLetterValue",
        "description": "the original record's value, byte for byte: any bytes, JSON or not "
        "(cut to fit when it was too large, `x-dlq-truncated`)",
    }
    clash = set(found) & set(own)
    if clash:
        raise ValueError(f"schema names used twice: {sorted(clash)}")
    return dict(sorted({**found, **own}.items()))


# --- messages, channels, operations --------------------------------------------------------------


def _message(spec: MessageSpec) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": spec.type,
        "title": spec.model.__name__,
        "summary": (spec.model.__doc__ or spec.model.__name__).strip().splitlines()[0],
        "contentType": CONTENT_TYPE,
        "headers": {"type": "object", "properties": MESSAGE_HEADERS},
        "payload": {"$ref": SCHEMAS + spec.type},
        "bindings": {"kafka": {"key": _key(spec), "bindingVersion": BINDING_VERSION}},
    }
    if spec.kind == "command":
        message["correlationId"] = {
            "description": "the command's id; its CommandResult names it in `data.command_id`",
            "location": "$message.payload#/id",
        }
    elif spec.kind == "result":
        message["correlationId"] = {
            "description": "the id of the command answered",
            "location": "$message.payload#/data/command_id",
        }
    return message


def _dead_letter() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "The original record's value and key, unchanged.",
        "headers": {
            "type": "object",
            "properties": {h: {"type": "string", "description": d} for h, d in DLQ_HEADERS.items()},
        },
        "payload": {"$ref": SCHEMAS + "DeadLetterValue"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "the original record's key, unchanged (cut to 1 KiB)",
                },
                "bindingVersion": BINDING_VERSION,
            }
        },
    }


#: how a key is deleted from a compacted topic (shared.contract.tombstone)
TOMBSTONE_NOTE = (
    " A record with a null value (a tombstone) deletes its key: it carries the headers ce_time"
    " (RFC 3339), ce_signaturekeyid and ce_signature (the owner's Ed25519 signature of RFC 8785"
    ' of {"topic", "key", "time", "signaturekeyid"}); else it is dead-lettered not_tombstone or'
    " bad_signature. On user-contacts it erases that person's contact details."
)


def _channel(topic: str, specs: list[MessageSpec]) -> dict[str, Any]:
    policy = "compact" if topic in COMPACTED_TOPICS else "delete"
    return {
        "address": topic,
        "description": f"Prefixed on the wire by TOPIC_PREFIX; dead letters go to {dlq(topic)}."
        + (TOMBSTONE_NOTE if topic in COMPACTED_TOPICS else ""),
        "messages": {s.type: {"$ref": f"#/components/messages/{s.type}"} for s in specs},
        "bindings": {
            "kafka": {
                "topic": topic,
                "topicConfiguration": {"cleanup.policy": [policy]},
                "bindingVersion": BINDING_VERSION,
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


def _reply(topic: str) -> dict[str, Any]:
    """A command topic's answer: its context's CommandResult on command-results."""
    answer = result_type(COMMAND_TOPICS[topic])
    return {
        "channel": {"$ref": f"#/channels/{COMMAND_RESULTS}"},
        "messages": [{"$ref": f"#/channels/{COMMAND_RESULTS}/messages/{answer}"}],
    }


def _operations(
    by_topic: dict[str, list[MessageSpec]], consumed: dict[str, list[str]]
) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for topic, specs in sorted(by_topic.items()):
        ref = {"$ref": f"#/channels/{topic}"}
        for spec in specs:
            operation: dict[str, Any] = {
                "action": "send",
                "channel": ref,
                "messages": [{"$ref": f"#/channels/{topic}/messages/{spec.type}"}],
            }
            if spec.kind == "command":
                operation["summary"] = "Answered by exactly one CommandResult."
                operation["reply"] = _reply(topic)
            operations[f"{producer(spec)}.send.{spec.type}"] = operation
        for service in consumed.get(topic, []):
            receive: dict[str, Any] = {"action": "receive", "channel": ref}
            if topic in COMMAND_TOPICS:
                receive["reply"] = _reply(topic)
            operations[f"{service}.receive.{topic}"] = receive
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
    messages = {t: _message(s) for t, s in sorted(SPECS.items())}
    messages["DeadLetter"] = _dead_letter()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Escrow suite",
            "version": "0.1.0",
            "description": "Secure payment (پرداخت امن) for freelance marketplaces: every "
            "message is a CloudEvents 1.0 event in structured JSON mode; commands carry the "
            "`actortoken` extension and are answered on command-results by exactly one "
            "`<context>.CommandResult.v1` whose `data.command_id` is the command's `id`. Every "
            "other message is signed by its producer (the owner of its type: escrow, payments, "
            "disputes, or the marketplace for user-contacts) with Ed25519, in the extensions "
            "`signaturekeyid` (the producer's key id) and `signature` (base64url without "
            "padding of the signature of the RFC 8785 canonical JSON of the whole event "
            "without `signature`); its `source` is the producer's name. Consumers dead-letter "
            "a message with another source (`wrong_source`) or no valid signature by one of "
            "the producer's keys (`bad_signature`). The Kafka key of each message is in its "
            "`bindings.kafka.key`.",
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "development": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "make run: the embedded Tansu broker, plaintext, no authentication",
            },
            "production": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": "Kafka over TLS (Strimzi in deploy/): a SCRAM-SHA-512 user per "
                "service, or a client certificate",
                "variables": {"bootstrap": {"description": "KAFKA_BOOTSTRAP_SERVERS"}},
                "security": [
                    {"$ref": f"#/components/securitySchemes/{name}"} for name in SECURITY_SCHEMES
                ],
            },
        },
        "channels": channels,
        "operations": _operations(by_topic, consumed),
        "components": {
            "messages": messages,
            "schemas": schemas(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())
    print(f"wrote {target}")
