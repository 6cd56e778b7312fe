"""Settings of the notifications service (environment variables; see the README)."""

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"
    http_port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/notifications"
