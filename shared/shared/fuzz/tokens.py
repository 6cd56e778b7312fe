"""Actor tokens for fuzzed commands: absent, garbage, unsigned, signed by another key, expired,
too long-lived, for another actor — all to be refused `invalid_token` — and now and then a valid
token of a fuzzer-made actor, so that the handlers behind the token check are fuzzed too.

A valid token is only ever issued to a new `fuzz-…` user in a role that moves no money by itself
being wrong (never `system`, never a user the suite holds money for): such a command can be
refused (`forbidden`, `not_found`, …) but never release, refund or pay out anyone's money.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import sign_actor_token
from shared.contract.base import Actor, Role

#: roles a validly signed fuzz actor may have
SIGNED_ROLES = (Role.EMPLOYER, Role.CONTRACTOR, Role.ARBITER, Role.ADMIN)
TTL = timedelta(minutes=10)


def _other_key() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Tokens:
    def __init__(self, rng: random.Random, suite_key_pem: str) -> None:
        self.rng = rng
        self.suite_key = suite_key_pem
        self.stranger_key = _other_key()
        self._signed: dict[tuple[str, str], str] = {}

    def fuzz_actor(self) -> Actor:
        return Actor(
            user_id=f"fuzz-actor-{self.rng.randrange(500)}", role=self.rng.choice(SIGNED_ROLES)
        )

    def valid(self, actor: Actor) -> str:
        """A token the services accept (one per actor, reused: signing costs)."""
        key = (actor.user_id, actor.role.value)
        if key not in self._signed:
            self._signed[key] = sign_actor_token(self.suite_key, actor, ttl=TTL)
        return self._signed[key]

    def refused(self, actor: Actor) -> tuple[str, str | None]:
        """(kind, token) of a token the services must refuse for `actor`."""
        r, now = self.rng, datetime.now(UTC)
        other = Actor(user_id=f"{actor.user_id}-other", role=actor.role)
        kinds: dict[str, Callable[[], str | None]] = {
            "absent": lambda: None,
            "garbage": lambda: r.choice(["", "x", "a.b.c", "Bearer x", "\x00", "ey" * 3000]),
            "unsigned": lambda: jwt.encode(
                {"sub": actor.user_id, "role": actor.role.value, "iat": now, "exp": now + TTL},
                "",
                algorithm="none",
            ),
            "stranger_key": lambda: sign_actor_token(self.stranger_key, actor, ttl=TTL),
            "expired": lambda: sign_actor_token(
                self.suite_key, actor, ttl=TTL, now=now - timedelta(hours=2)
            ),
            "too_long_lived": lambda: sign_actor_token(
                self.suite_key, actor, ttl=timedelta(days=30)
            ),
            "issued_in_future": lambda: sign_actor_token(
                self.suite_key, actor, ttl=TTL, now=now + timedelta(hours=1)
            ),
            "other_actor": lambda: self.valid(other),
            "wrong_audience": lambda: sign_actor_token(
                self.suite_key, actor, ttl=TTL, audience="someone-else"
            ),
        }
        kind = r.choice(sorted(kinds))
        return kind, kinds[kind]()
