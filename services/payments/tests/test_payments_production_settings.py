"""Which gateways a deployment may route money through (issue 12 point 9, issue 13 point 1).

Production refuses the sandbox anywhere: with it, a callback signed with `SANDBOX_SECRET` funds an
escrow with money no PSP ever took, and a payout pays nobody. Every route must name a gateway
that can do what it is routed for, in that currency, with its credentials set.
"""

import pytest
from payments.adapters.gateways.factory import build_gateways
from payments.settings import PaymentsSettings
from shared.testing.production import production_settings


def test_production_routes_each_currency_through_real_psps():
    settings = PaymentsSettings(**production_settings())
    assert settings.payment_routes() == {"IRR": "zarinpal", "USD": "stripe"}
    assert settings.payout_routes() == {"IRR": "vandar", "USD": "stripe"}
    gateways = build_gateways(settings)
    assert set(gateways.by_name) == {"zarinpal", "vandar", "stripe"}  # no sandbox
    assert gateways.for_payment("USD").name == "stripe"  # type: ignore[union-attr]
    assert gateways.for_payout("IRR").name == "vandar"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"payment_gateways": {"IRR": "sandbox", "USD": "stripe"}}, "sandbox is for development"),
        ({"payout_gateways": {"IRR": "sandbox", "USD": "stripe"}}, "sandbox is for development"),
        ({"payout_gateways": {"IRR": "zarinpal", "USD": "stripe"}}, "zarinpal cannot do that"),
        ({"payment_gateways": {"IRR": "vandar", "USD": "stripe"}}, "vandar cannot do that"),
        ({"payment_gateways": {"IRR": "zarinpal", "USD": "zarinpal"}}, "takes only"),
        ({"stripe_webhook_secret": None}, "needs STRIPE_WEBHOOK_SECRET"),
        ({"vandar_access_token": None}, "needs VANDAR_ACCESS_TOKEN"),
        ({"zarinpal_merchant_id": None}, "needs ZARINPAL_MERCHANT_ID"),
        ({"zarinpal_access_token": None}, "need ZARINPAL_ACCESS_TOKEN"),
    ],
    ids=[
        "sandbox-payments",
        "sandbox-payouts",
        "zarinpal-pays-no-one",
        "vandar-takes-no-payment",
        "zarinpal-takes-no-usd",
        "stripe-without-webhook-secret",
        "vandar-without-token",
        "zarinpal-without-merchant",
        "zarinpal-refunds-without-token",
    ],
)
def test_production_refuses_a_route_that_cannot_carry_the_money(changes, refusal):
    with pytest.raises(ValueError, match=refusal):
        PaymentsSettings(**production_settings(**changes))


def test_development_and_tests_keep_the_sandbox_for_everything():
    for settings in (PaymentsSettings(), PaymentsSettings(environment="test")):
        assert set(settings.payment_routes().values()) == {"sandbox"}
        assert set(settings.payout_routes().values()) == {"sandbox"}
        assert set(build_gateways(settings).by_name) == {"sandbox"}
