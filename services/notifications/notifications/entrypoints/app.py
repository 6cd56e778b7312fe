"""Builds the notifications service: its settings, runtime and routes."""

from shared.service import Service, build_service

from notifications.settings import NotificationsSettings

CONTEXT = "notifications"


def build(settings: NotificationsSettings | None = None) -> Service:
    service = build_service(
        settings or NotificationsSettings(), package="notifications", context=CONTEXT
    )
    return service
