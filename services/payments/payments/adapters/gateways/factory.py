"""Which gateways a deployment uses, from its settings.

Every gateway a route names is built, and so is every real PSP whose credentials are set even
when no route names it today: a payment taken there before the routes changed is still called
back, inquired about and refunded there. The sandbox exists only outside production.

A PSP's adapter is imported only when it is built: Stripe's SDK alone takes longer to import
than the rest of the service, and a deployment without Stripe never needs it.
"""

from payments.adapters.gateways.port import Gateway, Gateways, Instrumented
from payments.adapters.gateways.sandbox import SandboxGateway
from payments.settings import PaymentsSettings


def build_gateways(settings: PaymentsSettings) -> Gateways:
    built: dict[str, Gateway] = {}
    used = settings.gateways_used()
    timeout = settings.gateway_timeout_s
    if settings.environment != "production":
        built["sandbox"] = SandboxGateway(
            settings.sandbox_url, settings.sandbox_secret.get_secret_value(), timeout=timeout
        )
    if settings.zarinpal_merchant_id:
        from payments.adapters.gateways.zarinpal import ZarinpalGateway

        token = settings.zarinpal_access_token
        built["zarinpal"] = ZarinpalGateway(
            settings.zarinpal_merchant_id,
            api_url=settings.zarinpal_api_url,
            startpay_url=settings.zarinpal_startpay_url,
            graphql_url=settings.zarinpal_graphql_url,
            access_token=token.get_secret_value() if token else None,
            refund_method=settings.zarinpal_refund_method,
            timeout=timeout,
        )
    if settings.vandar_business and settings.vandar_access_token:
        from payments.adapters.gateways.vandar import VandarGateway

        built["vandar"] = VandarGateway(
            settings.vandar_business,
            settings.vandar_access_token.get_secret_value(),
            api_url=settings.vandar_api_url,
            timeout=timeout,
        )
    if settings.stripe_api_key and settings.stripe_webhook_secret:
        from payments.adapters.gateways.stripe import StripeGateway

        built["stripe"] = StripeGateway(
            settings.stripe_api_key.get_secret_value(),
            settings.stripe_webhook_secret.get_secret_value(),
            api_url=settings.stripe_api_url,
            timeout=timeout,
        )
    assert used <= built.keys(), used - built.keys()  # the settings refuse a route without creds
    return Gateways(
        {name: Instrumented(gateway) for name, gateway in built.items()},
        settings.payment_routes(),
        settings.payout_routes(),
    )
