"""Settings of the payments service (environment variables; see the README)."""

from shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    service_name: str = "payments"
    http_port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/payments"
