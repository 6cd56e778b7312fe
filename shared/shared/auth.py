"""Actor tokens: the marketplace's JWT (EdDSA or RS256) that vouches for a command's actor.

Services only verify (public key from settings). Local runs generate an Ed25519 development key
pair, and `escrowctl` signs with it.

A token is accepted only when it is tightly bound: signed by a configured key, naming the
command's actor, with numeric `exp` and `iat`, issued no later than now (plus the leeway), living
at most `max_lifetime_s` (`exp - iat`), unexpired, and — when configured — for exactly this
audience and from exactly this issuer. Production settings require the audience and the issuer.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeGuard

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contract.base import Actor
from shared.settings import DEFAULT_TOKEN_LIFETIME_S, DEV_KEY_MARKER

ALGORITHMS = ["EdDSA", "RS256"]
#: how many verified tokens a verifier remembers
VERIFIED_TOKENS = 10_000
MAX_TOKEN_LENGTH = 8_192
#: errors that another configured key may not give (the next key is tried); any other error
#: of PyJWT comes after the signature held, or from a token no key can read
OTHER_KEY_MAY_VERIFY = (jwt.InvalidSignatureError, jwt.InvalidKeyError, TypeError, ValueError)


class TokenRefused(Exception):
    """The token is absent, invalid, expired, too long-lived or names someone else."""


class ActorTokenVerifier:
    """Verifies actor tokens, remembering the ones it accepted until they expire.

    Both `exp` and `iat` are required numbers. Requiring `iat` is the stricter of the two sound
    choices: with it the lifetime the issuer chose (`exp - iat`) is known at first sight, so a
    10-year token is refused even while it is fresh, and an `iat` in the future can be refused.
    Bounding only `exp - now` when `iat` is missing would accept a token of any lifetime once
    its remaining life fell under the bound. Identity services stamp `iat` as a rule, and
    `sign_actor_token` always has. The lifetime is compared without leeway: both times come from
    the issuer's clock, so no skew separates them.
    """

    def __init__(
        self,
        public_keys: list[str],
        *,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_s: int = 30,
        max_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S,
    ) -> None:
        self.public_keys = public_keys
        self.audience = audience or None
        self.issuer = issuer or None
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        self._keys = [_loaded(pem) for pem in public_keys]
        #: tokens verified before, with their claims: a back end signs one token per user
        #: session, so most commands carry one already seen. Bounded; expiry is checked on use.
        self._verified: OrderedDict[str, tuple[float, dict[str, object]]] = OrderedDict()

    def verify(self, token: str | None, actor: Actor) -> None:
        """Refuse unless `token` is valid, unexpired and names exactly `actor`."""
        if not token:
            raise TokenRefused("the command carries no actortoken")
        if not self.public_keys:
            raise TokenRefused("no actor-token public key is configured")
        claims = self._decode(token)
        if claims.get("sub") != actor.user_id or claims.get("role") != actor.role.value:
            raise TokenRefused("the actortoken names another actor than the command")

    def actor_of(self, token: str | None) -> Actor:
        """The actor a valid token names (for a reader of the HTTP API, who sends no command)."""
        if not token:
            raise TokenRefused("no bearer token")
        if not self.public_keys:
            raise TokenRefused("no actor-token public key is configured")
        claims = self._decode(token)
        try:
            return Actor.model_validate({"user_id": claims.get("sub"), "role": claims.get("role")})
        except ValueError as exc:
            raise TokenRefused("the token names no actor (sub and role)") from exc

    def _decode(self, token: str) -> dict[str, object]:
        remembered = self._verified.get(token)
        if remembered is not None:
            expires, claims = remembered
            # a remembered token expires when PyJWT would refuse it: at `exp` plus the leeway
            if expires > time.time() - self.leeway_s:
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
            raise TokenRefused("the actortoken has expired")
        claims = self._verify_signature(token)
        self._verified[token] = (self._checked_expiry(claims), claims)
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return claims

    def _checked_expiry(self, claims: dict[str, object]) -> float:
        """The token's `exp`, once it is a number, `iat` too, `iat` not in the future and the
        lifetime within the bound (PyJWT reads both with `int()`: `"9999999999"` passes it)."""
        expires, issued = claims.get("exp"), claims.get("iat")
        if not _is_time(expires):
            raise TokenRefused("the actortoken's exp is not a number")
        if not _is_time(issued):
            raise TokenRefused("the actortoken's iat is not a number")
        if issued > time.time() + self.leeway_s:
            raise TokenRefused("the actortoken is issued in the future")
        if expires - issued > self.max_lifetime_s:
            raise TokenRefused(
                f"the actortoken lives {expires - issued:.0f} s, longer than the"
                f" {self.max_lifetime_s} s allowed"
            )
        return float(expires)

    def _verify_signature(self, token: str) -> dict[str, object]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRefused("the actortoken is too long")
        required = ["exp", "iat", "sub", "role"]
        required += ["aud"] if self.audience else []
        required += ["iss"] if self.issuer else []
        last_error: Exception | None = None
        for key in self._keys:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway_s,
                    # strict: `aud` must be this audience itself, not a list that holds it as
                    # well as another service's; without an audience, a token that has one
                    # (for some other service) is refused
                    options={"require": required, "strict_aud": True},
                )
            except jwt.ExpiredSignatureError as exc:
                raise TokenRefused("the actortoken has expired") from exc
            except jwt.InvalidAudienceError as exc:
                wanted = repr(self.audience) if self.audience else "absent"
                raise TokenRefused(f"the actortoken's aud must be {wanted} ({exc})") from exc
            except OTHER_KEY_MAY_VERIFY as exc:
                last_error = exc
            except jwt.PyJWTError as exc:
                raise TokenRefused(f"the actortoken is not valid: {exc}") from exc
        raise TokenRefused(f"the actortoken is not valid: {last_error}")


def _is_time(value: object) -> TypeGuard[int | float]:
    """A NumericDate: an int or float that is finite (JSON's `true` is not one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _loaded(pem: str) -> Any:
    """A PEM public key parsed once (PyJWT would parse the text again for every token); text
    that is not a key is left for PyJWT to refuse as before."""
    try:
        return serialization.load_pem_public_key(pem.encode())
    except ValueError:
        return pem


def sign_actor_token(
    private_key_pem: str,
    actor: Actor,
    *,
    ttl: timedelta = timedelta(minutes=5),
    now: datetime | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    algorithm: str = "EdDSA",
) -> str:
    """A token for `actor`, issued `now` and living `ttl` (keep it within the services'
    `ACTOR_TOKEN_MAX_LIFETIME_S`, 15 minutes by default)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": actor.user_id,
        "role": actor.role.value,
        "iat": issued,
        "exp": issued + ttl,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, private_key_pem, algorithm=algorithm)


class ActorAuth(httpx.Auth):
    """Reads the services' HTTP API as `actor`: each request carries a fresh bearer token (so a
    long-lived client never sends an expired one)."""

    def __init__(self, private_key_pem: str, actor: Actor, **options: Any) -> None:
        self.private_key_pem = private_key_pem
        self.actor = actor
        self.options = options

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = sign_actor_token(self.private_key_pem, self.actor, **self.options)
        request.headers["authorization"] = f"Bearer {token}"
        yield request


def ensure_dev_keypair(directory: Path) -> tuple[Path, Path]:
    """Create the development Ed25519 key pair once; returns (private, public) PEM paths."""
    private_path = directory / "actor-token.key.pem"
    public_path = directory / "actor-token.pub.pem"
    if private_path.exists() and public_path.exists():
        return private_path, public_path
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.write_bytes(private_pem)
    private_path.chmod(0o600)
    # The marker lets production settings refuse this key.
    public_path.write_text(f"# {DEV_KEY_MARKER}\n" + public_pem.decode())
    return private_path, public_path
