"""Actor tokens: the marketplace's JWT (EdDSA or RS256) that vouches for a command's actor.

Services only verify (public key from settings). Local runs generate an Ed25519 development key
pair, and `escrowctl` signs with it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contract.base import Actor
from shared.settings import DEV_KEY_MARKER

ALGORITHMS = ["EdDSA", "RS256"]
#: how many verified tokens a verifier remembers
VERIFIED_TOKENS = 10_000
MAX_TOKEN_LENGTH = 8_192


class TokenRefused(Exception):
    """The token is absent, invalid, expired or names someone else."""


class ActorTokenVerifier:
    def __init__(
        self,
        public_keys: list[str],
        *,
        audience: str | None = None,
        issuer: str | None = None,
        leeway_s: int = 30,
    ) -> None:
        self.public_keys = public_keys
        self.audience = audience
        self.issuer = issuer
        self.leeway_s = leeway_s
        self._keys = [_loaded(pem) for pem in public_keys]
        #: tokens verified before, with their claims: a back end signs one token per user
        #: session, so most commands carry one already seen. Bounded; expiry is checked on use.
        self._verified: OrderedDict[str, dict[str, object]] = OrderedDict()

    def verify(self, token: str | None, actor: Actor) -> None:
        """Refuse unless `token` is valid, unexpired and names exactly `actor`."""
        if not token:
            raise TokenRefused("the command carries no actortoken")
        if not self.public_keys:
            raise TokenRefused("no actor-token public key is configured")
        claims = self._decode(token)
        if claims.get("sub") != actor.user_id or claims.get("role") != actor.role.value:
            raise TokenRefused("the actortoken names another actor than the command")

    def _decode(self, token: str) -> dict[str, object]:
        claims = self._verified.get(token)
        if claims is not None:
            expires = claims.get("exp")
            if isinstance(expires, int | float) and expires + self.leeway_s >= time.time():
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
            raise TokenRefused("the actortoken has expired")
        claims = self._verify_signature(token)
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)
        return claims

    def _verify_signature(self, token: str) -> dict[str, object]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenRefused("the actortoken is too long")
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
                    options={"require": ["exp", "sub", "role"], "verify_aud": bool(self.audience)},
                )
            except jwt.ExpiredSignatureError as exc:
                raise TokenRefused("the actortoken has expired") from exc
            except (jwt.PyJWTError, ValueError, TypeError) as exc:
                last_error = exc
        raise TokenRefused(f"the actortoken is not valid: {last_error}")


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
    algorithm: str = "EdDSA",
) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": actor.user_id,
        "role": actor.role.value,
        "iat": issued,
        "exp": issued + ttl,
    }
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, private_key_pem, algorithm=algorithm)


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
