"""Builds the escrow service: its settings, runtime and routes."""

from shared.service import Service, build_service

from escrow.settings import EscrowSettings

CONTEXT = "escrow"


def build(settings: EscrowSettings | None = None) -> Service:
    service = build_service(settings or EscrowSettings(), package="escrow", context=CONTEXT)
    service.runtime.consume_commands("escrow-commands")
    return service
