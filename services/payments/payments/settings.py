"""Settings of the payments service (environment variables, e.g. `PAYMENT_GATEWAY=zarinpal`).

Gateways are chosen per currency. `PAYMENT_GATEWAY` is where new payments open and
`PAYOUT_GATEWAY` where payouts leave, for every accepted currency; `PAYMENT_GATEWAYS` and
`PAYOUT_GATEWAYS` (JSON objects, currency → gateway) override them per currency, e.g.
`{"IRR": "zarinpal", "USD": "stripe"}` and `{"IRR": "vandar", "USD": "stripe"}`. A refund always
goes back through the gateway its payment was taken at. The sandbox is the development default
and is refused in production, and so is a route to a gateway that cannot do what it is routed
for, or whose credentials are missing.

`PUBLIC_URL` is this service's address as gateways see it (callbacks go to
`{PUBLIC_URL}/callbacks/{gateway}`, on the public listener). Retry timing of payouts and
refunds is configurable so tests run with millisecond backoff.
"""

from datetime import timedelta
from typing import Final, Literal, Self

from pydantic import Field, SecretStr, model_validator
from shared.settings import ServiceSettings

from payments.domain.retry import RetrySchedule
from payments.sandbox.signing import DEV_SECRET

GatewayName = Literal["sandbox", "zarinpal", "stripe", "vandar"]

#: which gateway does what, and in which currencies (None: any currency)
TAKES_PAYMENTS: Final = frozenset({"sandbox", "zarinpal", "stripe"})
PAYS_OUT: Final = frozenset({"sandbox", "vandar", "stripe"})
REFUNDS: Final = frozenset({"sandbox", "zarinpal", "stripe"})
CURRENCIES: Final[dict[str, frozenset[str] | None]] = {
    "sandbox": None,
    "zarinpal": frozenset({"IRR"}),
    "vandar": frozenset({"IRR"}),
    "stripe": None,
}


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

    payment_gateway: GatewayName = "sandbox"
    payment_gateways: dict[str, GatewayName] = {}
    payout_gateway: GatewayName = "sandbox"
    payout_gateways: dict[str, GatewayName] = {}
    gateway_timeout_s: float = 10.0

    sandbox_url: str = "http://127.0.0.1:8010"
    sandbox_secret: SecretStr = SecretStr(DEV_SECRET)

    zarinpal_merchant_id: str | None = None
    zarinpal_api_url: str = "https://payment.zarinpal.com"
    zarinpal_startpay_url: str = "https://payment.zarinpal.com/pg/StartPay/"
    #: Zarinpal's GraphQL API (refunds), with the access token made in its panel
    zarinpal_graphql_url: str = "https://next.zarinpal.com/api/v4/graphql/"
    zarinpal_access_token: SecretStr | None = None
    #: how Zarinpal sends a refund back: `CARD` (instant, to the paying card) or `PAYA`
    zarinpal_refund_method: Literal["CARD", "PAYA"] = "CARD"

    #: Vandar (payouts to an IBAN / Sheba through its settlement API)
    vandar_api_url: str = "https://api.vandar.io"
    vandar_business: str | None = None
    vandar_access_token: SecretStr | None = None

    #: Stripe (USD: Checkout / PaymentIntents in, Refunds, Connect transfers and payouts out)
    stripe_api_url: str = "https://api.stripe.com"
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None

    #: a payment not called back this long after it opened is asked of its gateway, and again
    #: every `PAYMENT_INQUIRY_EVERY_S` until the gateway settles it (paid or failed)
    payment_inquiry_after_s: float = Field(default=900.0, gt=0)
    payment_inquiry_every_s: float = Field(default=300.0, gt=0)
    payment_inquiry_batch_size: int = Field(default=50, ge=1, le=1000)

    payout_max_attempts: int = 5
    refund_max_attempts: int = 8
    transfer_initial_delay_ms: int = 2_000
    transfer_max_delay_ms: int = 600_000
    #: a transfer the PSP took and has not finished is asked about again after this long
    transfer_poll_delay_ms: int = 300_000
    #: a claimed transfer whose worker died is tried again after this long; the worker renews it
    #: every third of it while its gateway call runs, so it need not outlast the longest call
    transfer_lease_s: float = Field(default=30.0, gt=0)
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
    def payment_inquiry_after(self) -> timedelta:
        return timedelta(seconds=self.payment_inquiry_after_s)

    @property
    def payment_inquiry_every(self) -> timedelta:
        return timedelta(seconds=self.payment_inquiry_every_s)

    @property
    def transfer_poll_delay(self) -> timedelta:
        return timedelta(milliseconds=self.transfer_poll_delay_ms)

    @property
    def transfer_lease(self) -> timedelta:
        return timedelta(seconds=self.transfer_lease_s)

    def callback_url(self, gateway: str) -> str:
        return f"{self.public_url.rstrip('/')}/callbacks/{gateway}"

    def payment_routes(self) -> dict[str, str]:
        """currency → the gateway new payments of that currency open at"""
        return {
            c: self.payment_gateways.get(c, self.payment_gateway) for c in self.accepted_currencies
        }

    def payout_routes(self) -> dict[str, str]:
        """currency → the gateway payouts of that currency leave through"""
        return {
            c: self.payout_gateways.get(c, self.payout_gateway) for c in self.accepted_currencies
        }

    def gateways_used(self) -> set[str]:
        return {*self.payment_routes().values(), *self.payout_routes().values()}

    @model_validator(mode="after")
    def _refuse_unusable_gateways(self) -> Self:
        for kind, routes, able in (
            ("PAYMENT", self.payment_routes(), TAKES_PAYMENTS),
            ("PAYOUT", self.payout_routes(), PAYS_OUT),
        ):
            for currency, name in routes.items():
                if name not in able:
                    raise ValueError(f"{kind}_GATEWAY for {currency}: {name} cannot do that")
                currencies = CURRENCIES[name]
                if currencies is not None and currency not in currencies:
                    raise ValueError(
                        f"{kind}_GATEWAY for {currency}: {name} takes only {sorted(currencies)}"
                    )
        needs = {
            "zarinpal": ("zarinpal_merchant_id",),
            "vandar": ("vandar_business", "vandar_access_token"),
            "stripe": ("stripe_api_key", "stripe_webhook_secret"),
        }
        for name in sorted(self.gateways_used()):
            for setting in needs.get(name, ()):
                if not getattr(self, setting):
                    raise ValueError(f"gateway {name} needs {setting.upper()}")
        if self.environment != "production":
            return self
        if "sandbox" in self.gateways_used():
            # a sandbox callback, signed with SANDBOX_SECRET, funds an escrow with no money;
            # a sandbox payout pays nobody
            raise ValueError("PAYMENT_GATEWAY=sandbox is for development: use a real PSP")
        if "zarinpal" in self.payment_routes().values() and not self.zarinpal_access_token:
            # its payments are refunded through its GraphQL API, which takes an access token
            raise ValueError("refunds of zarinpal payments need ZARINPAL_ACCESS_TOKEN")
        return self
