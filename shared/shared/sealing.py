"""Values sealed at rest: AES-256-GCM (`cryptography`'s `AESGCM`) under a ring of keys.

A sealed value reads `sealed:v1:<key id>:<base64url(nonce, ciphertext and tag)>`. Its associated
data names what it is and whose (`payouts.iban:<payout id>`), so a sealed value copied into
another row or column does not open. The first key of the ring seals; every key of the ring
opens. Rotation: put a new key first, keep the old ones until every row sealed with them has been
written again (each write seals with the first key), then drop them.

A stored value without the prefix was written before sealing existed and is read as it is; the
next write seals it.

The ring is written `<id>=<base64url of 32 bytes>[,<id>=<…>…]` (setting `SEALING_KEYS`);
`python -m shared.sealing` prints a fresh key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

PREFIX = "sealed:v1:"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_KEY_BYTES = 32
_NONCE_BYTES = 12
#: the ring `make run`, the tests and the development overlay use; production refuses it
DEV_SEALING_KEYS = "dev=" + base64.urlsafe_b64encode(b"escrow-suite development key 32b").decode()


class SealingError(ValueError):
    """A ring that cannot be read, or a sealed value that does not open under it."""


def _decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SealingError("not base64url") from exc


@dataclass(frozen=True)
class KeyRing:
    """Key ids and their AES-256-GCM keys, the sealing key first."""

    keys: tuple[tuple[str, AESGCM], ...]

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        keys: list[tuple[str, AESGCM]] = []
        for entry in (part.strip() for part in spec.split(",")):
            key_id, sep, encoded = entry.partition("=")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise SealingError("SEALING_KEYS: each entry is <id>=<base64url of 32 bytes>")
            if any(key_id == known for known, _ in keys):
                raise SealingError(f"SEALING_KEYS: key id {key_id!r} appears twice")
            try:
                raw = _decode(encoded.strip())
            except SealingError:
                raw = b""
            if len(raw) != _KEY_BYTES:
                raise SealingError(f"SEALING_KEYS: key {key_id!r} is not 32 bytes of base64url")
            keys.append((key_id, AESGCM(raw)))
        return cls(tuple(keys))

    @property
    def sealing_key_id(self) -> str:
        return self.keys[0][0]

    def seal(self, value: str, context: str) -> str:
        key_id, key = self.keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = key.encrypt(nonce, value.encode(), context.encode())
        return f"{PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def open(self, stored: str, context: str) -> str:
        if not stored.startswith(PREFIX):
            return stored
        key_id, sep, encoded = stored[len(PREFIX) :].partition(":")
        key = next((key for known, key in self.keys if known == key_id), None)
        if not sep or key is None:
            raise SealingError(f"sealed with key {key_id!r}, which SEALING_KEYS does not hold")
        raw = _decode(encoded)
        try:
            return key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealingError(f"a value sealed with key {key_id!r} does not open") from exc


#: where a session carries its service's ring (`Database(..., sealing=ring)` puts it there)
SESSION_INFO_KEY = "sealing"


def ring_of(session: AsyncSession | Session) -> KeyRing:
    """The ring of the database this session belongs to; a repository that seals asks for it."""
    ring = session.info.get(SESSION_INFO_KEY)
    if not isinstance(ring, KeyRing):
        raise SealingError("this database was opened without a sealing key ring (SEALING_KEYS)")
    return ring


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode().rstrip("=")


if __name__ == "__main__":
    print(new_key())
