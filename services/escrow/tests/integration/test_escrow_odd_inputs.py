"""The escrow read API over odd input, against the real app and database: a path id no row can
have is answered 404 `not_found` in JSON, never 500 (issue 12)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from escrow.entrypoints.app import build
from escrow.settings import EscrowSettings
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.reads import assert_json, assert_refused, reading_service

pytestmark = pytest.mark.integration

TOO_LONG = "x" * 256

ODD = [
    pytest.param("/escrows/%00", id="escrow-nul"),
    pytest.param("/escrows/e-1%00", id="escrow-trailing-nul"),
    pytest.param(f"/escrows/{TOO_LONG}", id="escrow-too-long"),
    pytest.param("/contracts/%00", id="contract-nul"),
    pytest.param("/contracts/%00/escrows", id="contract-escrows-nul"),
    pytest.param(f"/contracts/{TOO_LONG}", id="contract-too-long"),
    pytest.param(f"/contracts/{TOO_LONG}/escrows", id="contract-escrows-too-long"),
]
ORDINARY = [
    pytest.param("/escrows/" + "x" * 255, 404, id="escrow-longest"),
    pytest.param("/contracts/c-none", 404, id="contract-unknown"),
    pytest.param("/ledger/totals", 200, id="totals"),
]


@pytest.fixture(scope="module")
async def http(infra: TestInfra, actor_keys: KeyPair) -> AsyncIterator[httpx.AsyncClient]:
    """The escrow app on its own migrated database; a crash is answered 500, not raised."""
    url = await migrated("escrow", await infra.new_database("escrow"))
    service = build(
        settings_for_test(
            EscrowSettings, database_url=url, actor_token_public_key=actor_keys.public_pem
        )
    )
    async with reading_service(service, actor_keys.private_pem, base_url="http://escrow") as client:
        yield client


@pytest.mark.parametrize("path", ODD)
async def test_an_odd_path_id_is_not_found_in_json(http, path):
    answer = await http.get(path)

    assert_refused(answer, 404)


@pytest.mark.parametrize(("path", "status"), ORDINARY)
async def test_an_ordinary_path_is_read_as_before(http, path, status):
    answer = await http.get(path)

    assert_json(answer, status)
