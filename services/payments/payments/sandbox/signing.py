"""How the sandbox gateway authenticates its server-to-server callbacks: HMAC-SHA256 of the exact
body bytes with the merchant secret, hex-encoded in `X-Sandbox-Signature`."""

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "x-sandbox-signature"
API_KEY_HEADER: Final = "x-api-key"
#: the development secret `make run` uses; production refuses it
DEV_SECRET: Final = "escrow-suite development sandbox secret"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_signed_by(secret: str, body: bytes, signature: str | None) -> bool:
    # compare_digest: a forger must not learn the signature byte by byte from response times
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)
