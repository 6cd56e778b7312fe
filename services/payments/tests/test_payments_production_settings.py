"""Production refuses a fake PSP for money coming in (issue 12 point 9): with
`PAYMENT_GATEWAY=sandbox`, a callback signed with `SANDBOX_SECRET` funds an escrow with money
no PSP ever took."""

import pytest
from payments.settings import PaymentsSettings
from shared.testing.production import production_settings


def test_production_takes_payments_through_a_real_psp_only():
    assert PaymentsSettings(**production_settings()).payment_gateway == "zarinpal"
    with pytest.raises(ValueError, match="PAYMENT_GATEWAY=sandbox is for development"):
        PaymentsSettings(**production_settings(payment_gateway="sandbox"))


def test_development_and_tests_keep_the_sandbox():
    assert PaymentsSettings().payment_gateway == "sandbox"
    assert PaymentsSettings(environment="test").payment_gateway == "sandbox"
