"""Builds the payments service: its settings, runtime and routes."""

from shared.service import Service, build_service

from payments.settings import PaymentsSettings

CONTEXT = "payments"


def build(settings: PaymentsSettings | None = None) -> Service:
    service = build_service(settings or PaymentsSettings(), package="payments", context=CONTEXT)
    service.runtime.consume_commands("payment-commands")
    return service
