"""Settings of the notifications service (see its README): channels (SMTP, SMS provider,
webhooks), the delivery schedule, and how money is shown (environment, upper-case names)."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr, model_validator
from shared.settings import ServiceSettings, is_local_host


class NotificationsSettings(ServiceSettings):
    SEALS_AT_REST = True  # webhook secrets

    service_name: str = "notifications"
    http_port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/notifications"

    # email over SMTP; the defaults suit a local debugging server (`make run`)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "Escrow <no-reply@escrow.local>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 15.0

    # SMS through Kavenegar's REST API; without an API key the SMS channel is off
    sms_provider_url: str = "https://api.kavenegar.com"
    sms_api_key: SecretStr | None = None
    sms_sender: str | None = None
    sms_timeout_s: float = 10.0

    webhook_timeout_s: float = 10.0
    #: webhooks may go to loopback and private addresses (the receivers of `make run` and the
    #: tests); refused in production, where a webhook reaches only public addresses over https
    webhook_allow_private_targets: bool = False

    # delivery: attempts per (event, recipient, channel), the backoff between them, and how long
    # a message waits for the recipient's contact details before it is undeliverable
    delivery_max_attempts: int = 5
    delivery_initial_backoff_s: float = 30.0
    delivery_max_backoff_s: float = 3600.0
    #: the longest the delivery loop sleeps: it wakes when the next delivery falls due or when
    #: this replica commits new ones; this bound catches those of another replica
    delivery_max_idle_ms: int = 30_000
    delivery_batch_size: int = 20
    #: a claimed delivery not recorded within this time (the process died mid-send) is retried
    delivery_lease_s: float = 120.0
    undeliverable_after_s: float = 7 * 24 * 3600.0

    # presentation
    default_language: Literal["fa", "en"] = "fa"
    amount_display: Literal["rial", "toman"] = "rial"
    persian_digits: bool = True

    @model_validator(mode="after")
    def _refuse_private_webhooks_in_production(self) -> NotificationsSettings:
        # a user's webhook URL must not reach what only the service can (databases, metadata)
        if self.environment == "production" and self.webhook_allow_private_targets:
            raise ValueError(
                "unsafe production settings: WEBHOOK_ALLOW_PRIVATE_TARGETS must be false "
                "(a webhook URL is the user's: it must not reach internal addresses)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_plaintext_smtp_in_production(self) -> NotificationsSettings:
        # without STARTTLS the SMTP password and every message cross the network in clear; the
        # email channel has no implicit TLS (port 465), so STARTTLS is the only TLS there is
        if self.environment != "production":
            return self
        problems = []
        if is_local_host(self.smtp_host):
            problems.append("SMTP_HOST points at this machine (the development mail server)")
        if not self.smtp_starttls:
            problems.append("SMTP_STARTTLS must be true (email only over TLS)")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self
