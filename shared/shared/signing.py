"""Signed events: every event and command result a producer publishes carries its Ed25519 signature.

Commands are authenticated by their actor token; everything else on the wire is signed by the
producer that owns its type (`registry.MessageSpec.producer`): escrow, payments and disputes sign
their events and their command results, the marketplace signs `user-contacts`. A consumer checks
that `source` names that owner and that the signature verifies under one of the owner's public
keys; a record that fails is dead-lettered (`wrong_source`, `bad_signature`) and moves nothing.
This stands beside the broker's ACLs (DESIGN §8): a principal that can write a topic can no longer
forge what another producer says.

The signature travels in two CloudEvents extension attributes:

- `signaturekeyid`: the id of the producer's key that signed (several keys per producer make
  rotation possible);
- `signature`: base64url, without padding, of the 64-byte Ed25519 signature of the event's
  canonical form.

The canonical form is the RFC 8785 (JSON Canonicalization Scheme) serialisation of the event's
JSON object exactly as sent, with `signature` removed and `signaturekeyid` kept: every attribute
and the whole of `data` are covered. RFC 8785 is implemented in most languages, so an outside
producer signs the same bytes (`rfc8785` here, a library of Trail of Bits).

Keys (settings): `SIGNING_KEY` is the producer's private key, `<key id>=<base64url of the 32-byte
Ed25519 seed>`; `EVENT_KEYS` holds every producer's public keys,
`<producer>:<key id>=<base64url of the 32-byte public key>,…`. `python -m shared.signing
<producer>` prints a fresh pair. Outside production, unset keys are the development keys (derived
from the producer's name, so every test and tool agrees on them); production refuses them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

#: the extension attributes of a signature
SIGNATURE = "signature"
KEY_ID = "signaturekeyid"
#: the key id of every development key
DEV_KEY_ID = "dev"
_DEV_SEED_TEXT = "escrow-suite development signing key for "
_KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PRODUCER_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
#: base64url of 64 bytes, unpadded
SIGNATURE_LENGTH = 86


class SigningError(ValueError):
    """A key setting that cannot be read."""


class BadSignature(ValueError):
    """An event whose signature is absent, malformed, by an unknown key, or does not verify."""


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: RFC 8785 of the event without its `signature`."""
    unsigned = {name: value for name, value in document.items() if name != SIGNATURE}
    try:
        return rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        # an integer past 2**53 - 1 or a float that is not finite has no canonical form
        raise BadSignature(f"the event has no canonical form: {exc}") from exc


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SigningError("not base64url") from exc


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class Signer:
    """One producer's private key and its id."""

    producer: str
    key_id: str
    key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def parse(cls, producer: str, spec: str) -> Signer:
        """`<key id>=<base64url of the 32-byte seed>` (the `SIGNING_KEY` setting)."""
        key_id, sep, encoded = spec.strip().partition("=")
        if not sep or not _KEY_ID_PATTERN.fullmatch(key_id):
            raise SigningError("SIGNING_KEY is <key id>=<base64url of the 32-byte Ed25519 seed>")
        seed = _unb64(encoded)
        if len(seed) != 32:
            raise SigningError("SIGNING_KEY: the seed is not 32 bytes of base64url")
        return cls(producer, key_id, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def development(cls, producer: str) -> Signer:
        """The development key of `producer` (refused in production)."""
        seed = hashlib.sha256((_DEV_SEED_TEXT + producer).encode()).digest()
        return cls(producer, DEV_KEY_ID, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls, producer: str, key_id: str) -> Signer:
        return cls(producer, key_id, Ed25519PrivateKey.generate())

    def sign(self, document: Mapping[str, Any]) -> dict[str, str]:
        """The two attributes that sign `document` (which must not hold them yet)."""
        signed = {**document, KEY_ID: self.key_id}
        return {KEY_ID: self.key_id, SIGNATURE: _b64(self.key.sign(canonical(signed)))}

    @property
    def public_key(self) -> str:
        return _b64(self.key.public_key().public_bytes_raw())

    def setting(self) -> str:
        """This key as `SIGNING_KEY` takes it."""
        seed = self.key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return f"{self.key_id}={_b64(seed)}"

    def ring_entry(self) -> str:
        """The public half as one entry of `EVENT_KEYS`."""
        return f"{self.producer}:{self.key_id}={self.public_key}"


class Keyring:
    """The public keys of every producer, by producer and key id (`EVENT_KEYS`)."""

    def __init__(self, keys: Mapping[str, Mapping[str, Ed25519PublicKey]]) -> None:
        self._keys = {producer: dict(ids) for producer, ids in keys.items()}

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, dict[str, Ed25519PublicKey]] = {}
        for entry in (part.strip() for part in spec.split(",") if part.strip()):
            owner, _, rest = entry.partition(":")
            key_id, sep, encoded = rest.partition("=")
            if not (
                sep and _PRODUCER_PATTERN.fullmatch(owner) and _KEY_ID_PATTERN.fullmatch(key_id)
            ):
                raise SigningError(
                    "EVENT_KEYS: each entry is <producer>:<key id>=<base64url of 32 bytes>"
                )
            raw = _unb64(encoded)
            if len(raw) != 32:
                raise SigningError(f"EVENT_KEYS: the key {owner}:{key_id} is not 32 bytes")
            if key_id in keys.setdefault(owner, {}):
                raise SigningError(f"EVENT_KEYS: the key {owner}:{key_id} appears twice")
            keys[owner][key_id] = Ed25519PublicKey.from_public_bytes(raw)
        return cls(keys)

    def producers(self) -> list[str]:
        return sorted(self._keys)

    def public_keys(self) -> Iterable[tuple[str, str, str]]:
        """(producer, key id, base64url public key) of every key."""
        for producer, ids in sorted(self._keys.items()):
            for key_id, key in sorted(ids.items()):
                yield producer, key_id, _b64(key.public_bytes_raw())

    def key(self, producer: str, key_id: str) -> Ed25519PublicKey | None:
        return self._keys.get(producer, {}).get(key_id)

    def verify(self, document: Mapping[str, Any], producer: str) -> None:
        """Raise `BadSignature` unless `document` is signed by one of `producer`'s keys."""
        signature, key_id = document.get(SIGNATURE), document.get(KEY_ID)
        if not isinstance(signature, str) or not isinstance(key_id, str):
            raise BadSignature("the event is not signed (no signature and signaturekeyid)")
        key = self.key(producer, key_id)
        if key is None:
            raise BadSignature(f"{producer} has no key {key_id[:64]!r}")
        if len(signature) != SIGNATURE_LENGTH:
            raise BadSignature("the signature is not 64 bytes of base64url")
        try:
            key.verify(_unb64(signature), canonical(document))
        except (InvalidSignature, SigningError) as exc:
            raise BadSignature(f"the signature does not verify under {producer}:{key_id}") from exc


class DevelopmentKeyring(Keyring):
    """Every producer's development key, whatever its name (tests run producers of their own)."""

    def __init__(self) -> None:
        super().__init__({})

    def key(self, producer: str, key_id: str) -> Ed25519PublicKey | None:
        if key_id != DEV_KEY_ID or not _PRODUCER_PATTERN.fullmatch(producer):
            return None
        if producer not in self._keys:
            self._keys[producer] = {DEV_KEY_ID: Signer.development(producer).key.public_key()}
        return self._keys[producer][DEV_KEY_ID]


def is_development_key(producer: str, public_key: Ed25519PublicKey) -> bool:
    dev = Signer.development(producer).key.public_key()
    return dev.public_bytes_raw() == public_key.public_bytes_raw()


def ensure_keys(path: Path, producers: Iterable[str]) -> dict[str, Signer]:
    """The signing keys of a local stack (`make run`), one per producer, created on first use
    and kept in `path` (JSON, mode 600) so that restarts and `escrowctl` agree on them."""
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    signers = {p: Signer.parse(p, spec) for p, spec in stored.items()}
    missing = [p for p in producers if p not in signers]
    if missing:
        signers.update({p: Signer.generate(p, "local-1") for p in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({p: k.setting() for p, k in signers.items()}, indent=2))
        path.chmod(0o600)
    return signers


def ring_of(signers: Iterable[Signer]) -> str:
    """The `EVENT_KEYS` setting holding the public halves of `signers`."""
    return ",".join(signer.ring_entry() for signer in signers)


def main(argv: list[str]) -> None:
    """`python -m shared.signing <producer> [key id]`: a fresh key, both halves."""
    if not argv or not _PRODUCER_PATTERN.fullmatch(argv[0]):
        raise SystemExit("usage: python -m shared.signing <producer> [key id]")
    key_id = argv[1] if len(argv) > 1 else "k1"
    signer = Signer.generate(argv[0], key_id)
    print(f"SIGNING_KEY={signer.setting()}")
    print(f"EVENT_KEYS entry: {signer.ring_entry()}")


if __name__ == "__main__":
    main(sys.argv[1:])
