"""The payments read API and callbacks over odd input, against the real app and database: a path
id no row can have is 404 `not_found`, a query parameter not of its form 400 `malformed`, both in
JSON, never 500 (issue 12)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from payments.entrypoints.app import build
from payments.settings import PaymentsSettings
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.reads import assert_json, assert_refused, reading_service

pytestmark = pytest.mark.integration

READS = ("payments", "wallets", "payouts", "refunds")

ODD = [
    *(pytest.param(f"/{read}/%00", 404, id=f"{read}-nul") for read in READS),
    *(pytest.param(f"/{read}/{'x' * 256}", 404, id=f"{read}-too-long") for read in READS),
    pytest.param("/callbacks/zarinpal?Authority=%00&Status=OK", 400, id="zarinpal-nul"),
    pytest.param("/callbacks/sandbox?Authority=A%00", 400, id="sandbox-nul"),
]
ORDINARY = [
    pytest.param("/wallets/u-1", 200, id="wallet-empty"),
    pytest.param("/payments/p-none", 404, id="payment-unknown"),
    pytest.param("/refunds/" + "r" * 255, 404, id="refund-longest"),
    pytest.param(
        "/callbacks/zarinpal?Authority=A0000unknown&Status=OK", 404, id="zarinpal-unknown"
    ),
    pytest.param("/ledger/totals", 200, id="totals"),
]


@pytest.fixture(scope="module")
async def http(infra: TestInfra, actor_keys: KeyPair) -> AsyncIterator[httpx.AsyncClient]:
    """The payments app (Zarinpal opens payments) on its own migrated database; a crash is
    answered 500, not raised. No gateway is called: no callback here gets that far."""
    url = await migrated("payments", await infra.new_database("payments"))
    settings = settings_for_test(
        PaymentsSettings,
        database_url=url,
        actor_token_public_key=actor_keys.public_pem,
        payment_gateways={"IRR": "zarinpal"},
        zarinpal_merchant_id="1344b5d4-0048-11e8-94db-005056a205be",
        zarinpal_api_url="http://127.0.0.1:9",
    )
    service = build(settings)
    internal, public = service.app(), service.public_app()

    async def both(scope: Any, receive: Any, send: Any) -> None:
        """The two listeners behind one client: callbacks to the public one, reads internal."""
        app = public if scope.get("path", "").startswith("/callbacks/") else internal
        await app(scope, receive, send)

    async with reading_service(
        service, actor_keys.private_pem, base_url="http://payments", app=both
    ) as client:
        yield client


@pytest.mark.parametrize(("path", "status"), ODD)
async def test_an_odd_input_is_answered_4xx_in_json(http, path, status):
    answer = await http.get(path)

    assert_refused(answer, status)


@pytest.mark.parametrize(("path", "status"), ORDINARY)
async def test_an_ordinary_request_is_answered_as_before(http, path, status):
    answer = await http.get(path)

    assert_json(answer, status)
