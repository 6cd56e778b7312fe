"""Production settings that every production check accepts, for tests of those checks.

One place, so that a new production rule changes one dict (five copies of it once had to be
found after a rule refused them all). A test of a rule takes these and changes or drops the one
setting the rule is about.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.sealing import new_key
from shared.signing import Signer

#: producers whose public keys the production ring holds
RING_PRODUCERS = ("escrow", "payments", "disputes", "notifications", "marketplace")


def production_settings(*, without: Iterable[str] = (), **changes: object) -> dict[str, object]:
    """Safe production settings (fresh keys each call), less `without`, with `changes`."""
    ring = ",".join(Signer.generate(p, "k1").ring_entry() for p in RING_PRODUCERS)
    settings: dict[str, object] = {
        "environment": "production",
        "actor_token_public_key": "-----BEGIN PUBLIC KEY-----\nreal\n-----END PUBLIC KEY-----",
        "actor_token_audience": "escrow-suite",
        "actor_token_issuer": "https://id.marketplace.example",
        "kafka_security_protocol": "SASL_SSL",
        "database_url": "postgresql+asyncpg://svc@db.internal:5432/svc",
        "sealing_keys": f"k1={new_key()}",
        "signing_key": Signer.generate("any", "k1").setting(),
        "event_keys": ring,
        "sandbox_secret": "a-real-sandbox-secret",
        # payments: money moves through real PSPs only (the sandbox is refused in production)
        "payment_gateways": {"IRR": "zarinpal", "USD": "stripe"},
        "payout_gateways": {"IRR": "vandar", "USD": "stripe"},
        "zarinpal_merchant_id": "1344b5d4-0048-11e8-94db-005056a205be",
        "zarinpal_access_token": "a-zarinpal-access-token",
        "vandar_business": "escrow-suite",
        "vandar_access_token": "a-vandar-access-token",
        "stripe_api_key": "sk_live_a-stripe-key",
        "stripe_webhook_secret": "whsec_a-stripe-webhook-secret",
        # notifications: production email goes over STARTTLS to a mail server (others ignore it)
        "smtp_host": "smtp.mail.example",
        "smtp_starttls": True,
    }
    for name in without:
        settings.pop(name)
    return {**settings, **changes}
