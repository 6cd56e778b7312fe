"""The `escrowctl pay / payout / wallet` functions against the running service and sandbox."""

import pytest
from payments import cli
from payments.domain.iban import from_bban
from payments.testing.harness import PaymentsHarness
from shared.contract.base import Actor, Role
from shared.contract.payments import PaymentPurpose, RequestPayout, StartPayment
from typer.testing import CliRunner

pytestmark = pytest.mark.integration


async def test_pay_then_payout_then_read_the_wallet(payments: PaymentsHarness):
    paid = await cli.pay_and_complete(
        payments.client,
        StartPayment(
            actor=Actor(user_id="emp-9", role=Role.EMPLOYER),
            payment_id="pay-cli",
            purpose=PaymentPurpose.DIRECT,
            amount=8_000,
            currency="IRR",
            payee_id="con-9",
        ),
    )
    paid_out = await cli.request_payout(
        payments.client,
        RequestPayout(
            actor=Actor(user_id="con-9", role=Role.CONTRACTOR),
            payout_id="po-cli",
            amount=5_000,
            currency="IRR",
            iban=from_bban("IR", "0550000000009876543210"),
        ),
        wait=True,
    )
    suite = cli.Suite(
        bootstrap_servers="",
        topic_prefix="",
        private_key_pem=payments.client.private_key_pem,
        payments_url=str(payments.http.base_url),
        sandbox_url="",
        keyring=payments.client.watcher.keyring,
    )
    wallet = await cli.read(suite, "/wallets/con-9")

    assert (paid["event"], paid["amount"]) == ("payment-received", 8_000)
    assert (paid_out["event"], paid_out["amount"]) == ("payout-completed", 5_000)
    assert wallet["balances"] == {"IRR": 3_000}


def test_pay_names_exactly_one_target(tmp_path):
    result = CliRunner().invoke(
        cli.app, ["pay", "1000", "--suite-file", str(tmp_path / "none.json")]
    )
    assert result.exit_code != 0
    assert "exactly one" in result.output
