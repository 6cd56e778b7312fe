"""Which gateways a deployment uses, from its settings."""

from payments.adapters.gateways.port import Gateway, Gateways, Instrumented
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.adapters.gateways.zarinpal import ZarinpalGateway
from payments.settings import PaymentsSettings


def build_gateways(settings: PaymentsSettings) -> Gateways:
    sandbox = SandboxGateway(
        settings.sandbox_url,
        settings.sandbox_secret.get_secret_value(),
        timeout=settings.gateway_timeout_s,
    )
    payments: Gateway = sandbox
    if settings.payment_gateway == "zarinpal":
        assert settings.zarinpal_merchant_id  # the settings refuse zarinpal without one
        payments = ZarinpalGateway(
            settings.zarinpal_merchant_id,
            api_url=settings.zarinpal_api_url,
            startpay_url=settings.zarinpal_startpay_url,
            timeout=settings.gateway_timeout_s,
        )
    return Gateways(payments=Instrumented(payments), transfers=Instrumented(sandbox))
