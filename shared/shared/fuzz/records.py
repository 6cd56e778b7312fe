"""The fuzzed records, one category each, every choice from one seeded `random.Random`:

(a) random bytes (also empty and null values), (b) invalid JSON, (c) valid JSON that is not a
CloudEvent, (d) CloudEvents of the topic's real types with wrong or missing attributes, huge or
hostile attributes, unknown extensions, deep nesting, and (e) well-formed-looking commands and
events of the real types with random field values, most mutated one way: commands with a refused
actor token (or, now and then, a valid token of a fuzzer-made actor), events that a service
keeping money consumes always invalid (`Topics.is_money_topic`; checked with the contract's own
decoding and models before the record is kept: `expect.trusted`). Keys and headers are fuzzed
across all categories (non-UTF-8 bytes, missing, huge).
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.contract.base import Actor, Command, Role
from shared.contract.envelope import CONTENT_TYPE
from shared.contract.registry import SPECS, MessageModel
from shared.fuzz.expect import trusted
from shared.fuzz.tokens import Tokens
from shared.fuzz.topics import Topics
from shared.fuzz.values import JSON, Values

CATEGORIES = {
    "a": "random bytes",
    "b": "invalid JSON",
    "c": "JSON, not a CloudEvent",
    "d": "CloudEvent, wrong attributes",
    "e": "real types, random fields",
}
WEIGHTS = {"a": 0.12, "b": 0.13, "c": 0.12, "d": 0.33, "e": 0.30}
Headers = list[tuple[str, bytes]]
#: nesting a service still parses: its parser runs some 60 frames down FastStream's stack, so
#: from about 940 levels on it cannot (and 1,000 and more is unparsable anywhere: `not_json`)
DECODABLE_DEPTH = 900


@dataclass(frozen=True)
class Draft:
    topic: str
    category: str
    kind: str
    key: bytes | None
    value: bytes | None
    headers: Headers


class Generator:
    def __init__(
        self,
        rng: random.Random,
        topics: Topics,
        values: Values,
        tokens: Tokens,
        *,
        huge_share: float,
        huge_max: int,
    ) -> None:
        self.rng = rng
        self.topics = topics
        self.values = values
        self.tokens = tokens
        self.huge_share = huge_share
        self.huge_max = huge_max
        self.names = topics.names
        self.other_types = sorted(t for t, s in SPECS.items() if s.kind != "result")

    def draft(self, index: int) -> Draft:
        """Record `index`: topics in turn (so every topic gets its share), a weighted category."""
        r = self.rng
        topic = self.names[index % len(self.names)]
        category = r.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        huge = r.randrange(100_000, self.huge_max) if r.random() < self.huge_share else 0
        kind, value = getattr(self, f"_{category}")(topic, huge)
        if self.topics.is_money_topic(topic) and trusted(topic, value):
            kind, value = self._refused_event(topic)
        return Draft(topic, category, kind, self._key(value), value, self._headers())

    # --- the categories -----------------------------------------------------------------------

    def _a(self, topic: str, huge: int) -> tuple[str, bytes | None]:
        r = self.rng
        if huge:
            return "random_huge", r.randbytes(huge)
        roll = r.random()
        if roll < 0.08:
            return "null_value", None
        if roll < 0.16:
            return "empty", b""
        if roll < 0.24:
            return "utf16_text", "سلام {}".encode("utf-16")
        return "random", r.randbytes(r.choice([1, 2, 7, 64, 512, 4096, r.randrange(1, 70_000)]))

    def _b(self, topic: str, huge: int) -> tuple[str, bytes]:
        r = self.rng
        whole = json.dumps(self._envelope(topic, self._data(topic))).encode()
        if huge:
            return "unclosed_huge", b'{"data": "' + self.values.huge_text(huge).encode()
        kinds: dict[str, Callable[[], bytes]] = {
            "truncated": lambda: whole[: r.randrange(1, max(2, len(whole)))],
            "trailing_garbage": lambda: whole + b"}}garbage",
            "single_quotes": lambda: whole.replace(b'"', b"'"),
            "bad_utf8": lambda: whole[:20] + b"\xff\xfe\xc3\x28" + whole[20:],
            "bare_words": lambda: b"specversion=1.0&type=x",
            "deep_unclosed": lambda: b"[" * r.randrange(10, 50_000),
            "deep_nesting": lambda: _deep_object(r.randrange(1000, 60_000)),
            "nul_bytes": lambda: b"\x00" * r.randrange(1, 100) + whole,
            "bom": lambda: b"\xef\xbb\xbf" + whole,
        }
        kind = r.choice(sorted(kinds))
        return kind, kinds[kind]()

    def _c(self, topic: str, huge: int) -> tuple[str, bytes]:
        r = self.rng
        if huge:
            return "huge_string", json.dumps(self.values.huge_text(huge)).encode()
        kinds: dict[str, Any] = {
            "number": lambda: r.choice([0, -1, 1.5, 10**400]),
            "string": self.values.text,
            "null": lambda: None,
            "array": lambda: [self._envelope(topic, self._data(topic))],
            "object": lambda: {self.values.text(10): self.values.any_json() for _ in range(3)},
            "empty_object": lambda: {},
            "data_only": lambda: self._data(topic),
            "nan": lambda: float("nan"),
            "nested_array": lambda: self.values.nested(r.randrange(5, 300)),
        }
        kind = r.choice(sorted(kinds))
        return kind, json.dumps(kinds[kind]()).encode()

    def _attribute_name(self, length: int) -> str:
        """A valid extension attribute name's tail: lower-case letters and digits."""
        alphabet = string.ascii_lowercase + string.digits
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def _d(self, topic: str, huge: int) -> tuple[str, bytes]:
        r = self.rng
        event = self._envelope(topic, self._data(topic))
        if huge:
            field = r.choice(["id", "source", "subject", "actortoken", "xextension", "type"])
            event[field] = self.values.huge_text(huge)
            return f"huge_{field}", json.dumps(event).encode()
        required = ["specversion", "id", "source", "type", "time", "data"]
        kinds: dict[str, Any] = {
            "missing_attribute": lambda: event.pop(r.choice(required)),
            "wrong_specversion": lambda: event.update(specversion=r.choice(["0.3", 1.0, "", None])),
            "wrong_datacontenttype": lambda: event.update(datacontenttype="text/xml"),
            "naive_time": lambda: event.update(time="2026-01-01T00:00:00"),
            "bad_time": lambda: event.update(time=r.choice(["yesterday", 0, "", "9999-99-99"])),
            "data_not_object": lambda: event.update(data=r.choice([[], "x", 1, None])),
            "type_of_other_topic": lambda: event.update(type=r.choice(self.other_types)),
            "unknown_type": lambda: event.update(type=f"fuzz.{self.values.text(12)}.v1"),
            "long_id": lambda: event.update(id="i" * r.randrange(129, 5000)),
            "long_type": lambda: event.update(type="t" * r.randrange(129, 5000)),
            "long_actortoken": lambda: event.update(actortoken="a" * r.randrange(8193, 40_000)),
            "wrong_type_id": lambda: event.update(id=r.choice([1, [], {}, True])),
            "nul_in_id": lambda: event.update(id=f"{uuid.uuid4()}\x00"),
            "surrogate_in_id": lambda: event.update(id=f"{uuid.uuid4()}\ud800"),
            "nul_in_data": lambda: self._poke_data(event, "\x00"),
            "surrogate_in_data": lambda: self._poke_data(event, "\udc80"),
            "unknown_extensions": lambda: event.update(
                {f"x{self._attribute_name(6)}": self.values.any_json() for _ in range(5)}
            ),
            "invalid_attribute_name": lambda: event.update(
                {r.choice(["X-Trace", "trace_id", "é", "", "a" * 21]): self.values.any_json()}
            ),
            "deep_extension": lambda: event.update(
                xdeep=self.values.nested(r.randrange(50, DECODABLE_DEPTH))
            ),
            "deep_data": lambda: event["data"].update(
                x_deep=self.values.nested(r.randrange(50, DECODABLE_DEPTH))
            ),
            "huge_data_field": lambda: event["data"].update(
                x_big=self.values.huge_text(r.randrange(10_000, 90_000))
            ),
        }
        kind = r.choice(sorted(kinds))
        kinds[kind]()
        return kind, json.dumps(event).encode()

    def _e(self, topic: str, huge: int) -> tuple[str, bytes]:
        model = self.rng.choice(self.topics.models(topic))
        data = self.values.instance(model)
        kind = "valid_fields"
        if huge or self.rng.random() < 0.6:
            kind = self.values.mutate(data, huge=huge)
        if issubclass(model, Command):
            token_kind, token = self._command_token(data)
            return f"{token_kind}/{kind}", self._encoded(topic, data, model, token)
        return kind, self._encoded(topic, data, model, None)

    # --- helpers ------------------------------------------------------------------------------

    def _refused_event(self, topic: str) -> tuple[str, bytes]:
        """An event of a money topic that validation must refuse (mutated until it is)."""
        model = self.rng.choice(self.topics.models(topic))
        for _ in range(20):
            data = self.values.instance(model)
            kind = self.values.mutate(data)
            value = self._encoded(topic, data, model, None)
            if not trusted(topic, value):
                return f"refused/{kind}", value
        return "refused/data_not_object", self._encoded(topic, [], model, None)

    def _command_token(self, data: dict[str, JSON]) -> tuple[str, str | None]:
        actor = data.get("actor")
        if self.rng.random() < 0.2:
            signed = self.tokens.fuzz_actor()
            data["actor"] = {"user_id": signed.user_id, "role": signed.role.value}
            return "signed", self.tokens.valid(signed)
        try:
            named = Actor.model_validate(actor)
        except ValueError:
            named = Actor(user_id=self.values.ident(), role=Role.EMPLOYER)
        return self.tokens.refused(named)

    def _data(self, topic: str) -> dict[str, JSON]:
        return self.values.instance(self.rng.choice(self.topics.models(topic)))

    def _envelope(
        self, topic: str, data: JSON, model: MessageModel | None = None, token: str | None = None
    ) -> dict[str, JSON]:
        model = model or self.rng.choice(self.topics.models(topic))
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        event: dict[str, JSON] = {
            "specversion": "1.0",
            "id": event_id,
            "source": self.rng.choice(["fuzz", "marketplace", "escrow", "payments"]),
            "type": model.TYPE,
            "time": self.values.when(),
            "datacontenttype": "application/json",
            "data": data,
            "correlationid": event_id,
        }
        if token is not None:
            event["actortoken"] = token
        return event

    def _encoded(self, topic: str, data: JSON, model: MessageModel, token: str | None) -> bytes:
        return json.dumps(self._envelope(topic, data, model, token)).encode()

    def _poke_data(self, event: dict[str, JSON], bad: str) -> None:
        data = event["data"]
        texts = [k for k, v in data.items() if isinstance(v, str)]
        field = self.rng.choice(texts) if texts else "x_text"
        data[field] = f"{data.get(field, '')}{bad}"

    def _key(self, value: bytes | None) -> bytes | None:
        r = self.rng
        roll = r.random()
        if roll < 0.1 and value is not None:  # a null value (a tombstone) needs a key
            return None
        if roll < 0.2:
            return r.randbytes(r.randrange(1, 64))  # mostly not UTF-8
        if roll < 0.24:
            return b"k" * r.randrange(1025, 20_000)
        if roll < 0.28:
            return b""
        return self.values.id_for(r.choice(["escrow_id", "contract_id", "user_id"])).encode()

    def _headers(self) -> Headers:
        r = self.rng
        normal = [("content-type", CONTENT_TYPE.encode())]
        roll = r.random()
        if roll < 0.05:
            return []
        if roll < 0.10:
            return [("content-type", b"\xff\xfe\xfd"), ("x-fuzz", r.randbytes(16))]
        if roll < 0.14:
            many = r.randrange(1, 40)
            return normal + [
                (self._header_name(), r.randbytes(r.randrange(300))) for _ in range(many)
            ]
        if roll < 0.16:
            return [("content-type", b"text/plain"), ("ce_type", b"\x00\x01")]
        return normal

    def _header_name(self) -> str:
        """A header name: any text the producer can encode (UTF-8), so never a lone surrogate."""
        return self.values.text(12).encode("utf-8", "ignore").decode() or "x"


def _deep_object(depth: int) -> bytes:
    """Valid JSON nested `depth` objects deep: deeper than the parser's recursion limit."""
    return b'{"a":' * depth + b"1" + b"}" * depth
