"""Builds the disputes service: its settings, runtime and routes."""

from shared.service import Service, build_service

from disputes.settings import DisputesSettings

CONTEXT = "disputes"


def build(settings: DisputesSettings | None = None) -> Service:
    service = build_service(settings or DisputesSettings(), package="disputes", context=CONTEXT)
    service.runtime.consume_commands("dispute-commands")
    return service
