"""Settings of the payments service (environment variables, e.g. `PAYMENT_GATEWAY=zarinpal`).

Gateways: `PAYMENT_GATEWAY` is where new payments open (`sandbox` or `zarinpal`);
`PAYOUT_GATEWAY` is where payouts and refunds go (`sandbox`: Zarinpal has no transfer API).
`PUBLIC_URL` is this service's address as gateways see it (callbacks go to
`{PUBLIC_URL}/callbacks/{gateway}`). Retry timing of payouts and refunds is configurable so
tests run with millisecond backoff.
"""

from datetime import timedelta
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from shared.settings import ServiceSettings

from payments.domain.retry import RetrySchedule
from payments.sandbox.signing import DEV_SECRET


class PaymentsSettings(ServiceSettings):
    SEALS_AT_REST = True  # payout IBANs

    service_name: str = "payments"
    http_port: int = 8002
    #: the PSP callbacks alone listen here (`PUBLIC_URL` is how the PSP reaches this port)
    public_http_port: int = 8012
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/payments"

    #: ISO 4217 codes this deployment accepts (JSON list in the environment)
    accepted_currencies: list[str] = ["IRR", "USD"]
    public_url: str = "http://127.0.0.1:8012"
    #: the largest callback body taken (1 KiB–1 MiB; a gateway's callback is a few hundred
    #: bytes): a longer one is answered 413, unread when its Content-Length announces it
    callback_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)

    payment_gateway: Literal["sandbox", "zarinpal"] = "sandbox"
    payout_gateway: Literal["sandbox"] = "sandbox"
    gateway_timeout_s: float = 10.0

    sandbox_url: str = "http://127.0.0.1:8010"
    sandbox_secret: SecretStr = SecretStr(DEV_SECRET)

    zarinpal_merchant_id: str | None = None
    zarinpal_api_url: str = "https://api.zarinpal.com"
    zarinpal_startpay_url: str = "https://www.zarinpal.com/pg/StartPay/"

    payout_max_attempts: int = 5
    refund_max_attempts: int = 8
    transfer_initial_delay_ms: int = 2_000
    transfer_max_delay_ms: int = 600_000
    #: a claimed transfer whose worker died is tried again after this long
    transfer_lease_s: float = 120.0
    #: the longest a payout or refund worker sleeps: it wakes when the next transfer falls due
    #: or when this replica queues one; this bound catches those of another replica
    worker_max_idle_ms: int = 30_000
    worker_batch_size: int = 20
    metrics_refresh_s: float = 15.0

    def schedule(self, max_attempts: int) -> RetrySchedule:
        return RetrySchedule(
            max_attempts=max_attempts,
            initial_delay=timedelta(milliseconds=self.transfer_initial_delay_ms),
            max_delay=timedelta(milliseconds=self.transfer_max_delay_ms),
        )

    @property
    def transfer_lease(self) -> timedelta:
        return timedelta(seconds=self.transfer_lease_s)

    def callback_url(self, gateway: str) -> str:
        return f"{self.public_url.rstrip('/')}/callbacks/{gateway}"

    @model_validator(mode="after")
    def _refuse_unusable_gateways(self) -> Self:
        if self.payment_gateway == "zarinpal" and not self.zarinpal_merchant_id:
            raise ValueError("PAYMENT_GATEWAY=zarinpal needs ZARINPAL_MERCHANT_ID")
        if self.environment != "production":
            return self
        if self.payment_gateway == "sandbox":
            # a sandbox callback, signed with SANDBOX_SECRET, funds an escrow with no money
            raise ValueError("PAYMENT_GATEWAY=sandbox is for development: use a real PSP")
        if self.sandbox_secret.get_secret_value() == DEV_SECRET:
            raise ValueError("SANDBOX_SECRET must not be the development secret in production")
        return self
