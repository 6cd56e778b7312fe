"""Webhook signatures: HMAC-SHA256 with the user's secret over `timestamp + "." + body`.

The timestamp is signed with the body so a captured request cannot be replayed later: the
receiver refuses a timestamp older than its tolerance, and a changed timestamp breaks the MAC.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "x-escrow-timestamp"
SIGNATURE_HEADER = "x-escrow-signature"
SCHEME = "sha256="


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str, body: bytes, given: str, *, now: int, tolerance_s: int = 300
) -> bool:
    """What a receiver checks: a fresh timestamp and a matching signature (constant-time)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)
