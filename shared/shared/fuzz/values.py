"""Random values from one seeded `random.Random`: instances of the contract's models (read from
their JSON Schema, so a new field is fuzzed without a change here), hostile strings, and the
mutations that make an instance wrong in one way (a wrong type, a missing field, an amount out of
bounds, a NUL byte, a lone surrogate, a huge string, deep nesting, an unknown field)."""

from __future__ import annotations

import functools
import random
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contract.registry import MessageModel
from shared.messaging.inbox import DAY_S, MAX_RECORD_AGE_S

JSON = Any
#: ids the suite really holds (seeded before fuzzing), by field name; fields ending in `_id`
#: that are not listed here draw from "id"
Targets = dict[str, list[str]]
USER_FIELDS = ("user_id", "employer_id", "contractor_id", "payer_id", "payee_id", "arbiter_id")

HOSTILE_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202eevil\u202c",
    "\u200b\u200c\u200d",
    "پرداخت امن ۱۲۳",
    "😀" * 8,
    "'; DROP TABLE escrows; --",
    "${jndi:ldap://127.0.0.1:9/a}",
    "{{7*7}}",
    "../../etc/passwd",
    "\r\nX-Injected: 1",
    "\\",
    '"',
    "null",
    "NaN",
    "-1",
    "1e400",
)
#: amounts that DESIGN.md §2 refuses (1 <= amount <= 10**15, integers only)
BAD_AMOUNTS: tuple[JSON, ...] = (
    0,
    -1,
    -(10**15),
    10**15 + 1,
    2**63,
    -(2**63) - 1,
    10**40,
    1.5,
    1e308,
    "1000",
    "",
    True,
    None,
    [],
    {},
)
BAD_CURRENCIES: tuple[JSON, ...] = ("irr", "US", "USDX", "", "1RR", "ریال", "\x00RR", 364, None)
#: a webhook a fuzzed contact names goes nowhere: a closed port on loopback
SAFE_WEBHOOK = "http://127.0.0.1:9/fuzz-webhook"


@functools.cache
def _schema(model: MessageModel) -> dict[str, Any]:
    return model.model_json_schema()


class Values:
    def __init__(self, rng: random.Random, targets: Targets) -> None:
        self.rng = rng
        self.targets = targets

    # --- primitives ---------------------------------------------------------------------------

    def ident(self) -> str:
        return f"fuzz-{self.rng.getrandbits(48):012x}"

    def text(self, limit: int = 40) -> str:
        r = self.rng
        roll = r.random()
        if roll < 0.15:
            return r.choice(HOSTILE_TEXT)
        if roll < 0.25:
            return "".join(chr(r.randrange(0x20, 0x3000)) for _ in range(r.randrange(1, limit)))
        alphabet = string.ascii_letters + string.digits + " -_.:/"
        return "".join(r.choice(alphabet) for _ in range(r.randrange(1, limit)))

    def huge_text(self, size: int) -> str:
        """About `size` bytes of text (ASCII, so its UTF-8 size is its length)."""
        chunk = "".join(self.rng.choice(string.ascii_letters) for _ in range(1024))
        return (chunk * (size // 1024 + 1))[:size]

    def nested(self, depth: int) -> JSON:
        value: JSON = self.rng.choice([1, "x", None, True])
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"n": value}
        return value

    def any_json(self, depth: int = 3) -> JSON:
        r = self.rng
        roll = r.random()
        if depth <= 0 or roll < 0.5:
            return r.choice(
                [None, True, False, r.randrange(-(10**6), 10**6), r.random(), self.text(), 10**30]
            )
        if roll < 0.75:
            return [self.any_json(depth - 1) for _ in range(r.randrange(0, 4))]
        return {self.text(12): self.any_json(depth - 1) for _ in range(r.randrange(0, 4))}

    def when(self) -> str:
        """A moment within about three years of now, never within a day of the age limit
        (a command sent then could pass it between the send and its reading)."""
        while True:
            offset = self.rng.randrange(-(10**8), 10**8)
            if abs(offset + MAX_RECORD_AGE_S) > DAY_S:
                return (datetime.now(UTC) + timedelta(seconds=offset)).isoformat()

    def id_for(self, field: str) -> str:
        """An id for `field`: now and then one the suite really holds, else a new one."""
        name = "user_id" if field in USER_FIELDS else field
        known = self.targets.get(name) or []
        if known and self.rng.random() < 0.4:
            return self.rng.choice(known)
        return self.ident()

    # --- instances of a model -----------------------------------------------------------------

    def instance(self, model: MessageModel) -> dict[str, JSON]:
        schema = _schema(model)
        found = self._value(schema, schema.get("$defs", {}), "", 0)
        return found if isinstance(found, dict) else {}

    def _value(self, node: dict[str, Any], defs: dict[str, Any], field: str, depth: int) -> JSON:
        r = self.rng
        if "$ref" in node:
            return self._value(defs[node["$ref"].rsplit("/", 1)[-1]], defs, field, depth)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return r.choice(node["enum"])
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if not options or r.random() < 0.15:
                return None
            return self._value(r.choice(options), defs, field, depth)
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            return self._object(node, defs, depth)
        if kind == "array":
            items = node.get("items", {})
            return [self._value(items, defs, field, depth + 1) for _ in range(r.randrange(0, 3))]
        if kind == "string":
            return self._string(node, field)
        if kind == "integer":
            return self._integer(node)
        if kind == "number":
            return r.uniform(-1e6, 1e6)
        if kind == "boolean":
            return r.random() < 0.5
        return self.any_json(2)

    def _object(self, node: dict[str, Any], defs: dict[str, Any], depth: int) -> JSON:
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        found: dict[str, JSON] = {}
        for name, sub in properties.items():
            if name in required or self.rng.random() < 0.6:
                found[name] = self._value(sub, defs, name, depth + 1)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and not properties:
            for _ in range(self.rng.randrange(1, 3)):
                key = self.rng.choice(["*", "escrow", "dispute", "payment", self.text(8)])
                found[key] = self._value(extra, defs, key, depth + 1)
        return found

    def _string(self, node: dict[str, Any], field: str) -> str:
        if node.get("format") == "date-time":
            return self.when()
        if pattern := node.get("pattern"):
            return self._matching(pattern)
        if field == "webhook_url":
            return SAFE_WEBHOOK
        if field == "email":
            return f"{self.ident()}@fuzz.invalid"
        if field.endswith("_id") or field in ("id", "payment_id"):
            return self.id_for(field)
        low, high = int(node.get("minLength", 0)), int(node.get("maxLength", 60))
        text = self.text(max(2, min(high, 60)))
        return text if len(text) >= low else text + "x" * low

    def _matching(self, pattern: str) -> str:
        """A string matching `pattern`: the first of a few shapes the contract uses that does."""
        r = self.rng
        shapes: list[Callable[[], str]] = [
            lambda: "".join(r.choice(string.ascii_uppercase) for _ in range(3)),
            lambda: r.choice(["IRR", "USD", "EUR"]),
            lambda: "IR" + "".join(r.choice(string.digits) for _ in range(24)),
            lambda: "".join(r.choice("0123456789abcdef") for _ in range(64)),
            lambda: r.choice(["application/pdf", "image/png", "text/plain"]),
        ]
        for shape in r.sample(shapes, len(shapes)):
            candidate = shape()
            if re.fullmatch(pattern, candidate):
                return candidate
        return self.text()

    def _integer(self, node: dict[str, Any]) -> int:
        low = int(node.get("minimum", node.get("exclusiveMinimum", -(10**6))))
        high = int(node.get("maximum", node.get("exclusiveMaximum", 10**9)))
        if low >= 1 and self.rng.random() < 0.7:  # amounts: mostly plausible sizes
            return min(high, max(low, int(10 ** self.rng.randrange(0, 10))))
        return self.rng.randint(low, high)

    # --- mutations ----------------------------------------------------------------------------

    def mutate(self, data: dict[str, JSON], *, huge: int = 0) -> str:
        """Make `data` wrong in one way (in place); returns what was done. With `huge`, the way
        is a string of about that many bytes."""
        r = self.rng
        target = data
        nested = [v for v in data.values() if isinstance(v, dict) and v]
        if nested and r.random() < 0.3:
            target = r.choice(nested)  # the escrow snapshot, the actor
        field = r.choice(list(target)) if target else "x"
        if huge:
            target[field if r.random() < 0.7 else f"x_fuzz_{r.randrange(99)}"] = self.huge_text(
                huge
            )
            return "huge_string"
        kinds: list[tuple[str, Callable[[], None]]] = [
            ("wrong_type", lambda: target.__setitem__(field, self._other_type(target.get(field)))),
            ("missing_field", lambda: target.pop(field, None)),
            ("bad_amount", lambda: self._set_amount(target)),
            ("bad_currency", lambda: target.__setitem__("currency", r.choice(BAD_CURRENCIES))),
            ("hostile_text", lambda: target.__setitem__(field, r.choice(HOSTILE_TEXT))),
            ("unknown_field", lambda: target.__setitem__(f"x_{self.text(8)}", self.any_json())),
            ("deep_nesting", lambda: target.__setitem__(field, self.nested(r.randrange(20, 400)))),
            (
                "long_string",
                lambda: target.__setitem__(field, self.huge_text(r.randrange(129, 20_000))),
            ),
        ]
        name, apply = r.choice(kinds)
        apply()
        return name

    def _set_amount(self, target: dict[str, JSON]) -> None:
        amounts = [k for k in target if "amount" in k or k in ("gross", "net", "fee", "version")]
        key = self.rng.choice(amounts) if amounts else "amount"
        target[key] = self.rng.choice(BAD_AMOUNTS)

    def _other_type(self, value: JSON) -> JSON:
        choices: list[JSON] = [None, True, 12345, -3.25, "text", [1, 2], {"k": "v"}]
        return self.rng.choice([c for c in choices if type(c) is not type(value)])
