"""Settings of the escrow service (environment variables; see the README)."""

from shared.settings import ServiceSettings


class EscrowSettings(ServiceSettings):
    service_name: str = "escrow"
    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/escrow"
