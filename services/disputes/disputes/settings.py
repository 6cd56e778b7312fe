"""Settings of the disputes service (environment variables; see the README)."""

from shared.settings import ServiceSettings


class DisputesSettings(ServiceSettings):
    service_name: str = "disputes"
    http_port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/disputes"
