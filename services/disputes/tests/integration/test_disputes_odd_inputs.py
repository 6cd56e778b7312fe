"""The disputes read API over odd input, against the real app and database: a path id no row
can have is 404 `not_found`, a search parameter not of its form 400 `malformed`, both in JSON,
never 500 (issue 12)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from disputes.entrypoints.app import build
from disputes.settings import DisputesSettings
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.reads import assert_json, assert_refused, reading_service

pytestmark = pytest.mark.integration

TOO_LONG = "x" * 256

ODD = [
    pytest.param("/disputes/%00", 404, id="dispute-nul"),
    pytest.param(f"/disputes/{TOO_LONG}", 404, id="dispute-too-long"),
    *(
        pytest.param(f"/disputes?{name}=%00", 400, id=f"{name}-nul")
        for name in ("escrow_id", "party", "arbiter", "state")
    ),
    pytest.param(f"/disputes?party={TOO_LONG}", 400, id="party-too-long"),
    pytest.param("/disputes?limit=-5", 400, id="limit-negative"),
    pytest.param("/disputes?limit=0", 400, id="limit-zero"),
    pytest.param("/disputes?limit=501", 400, id="limit-above-max"),
    pytest.param("/disputes?limit=abc", 400, id="limit-not-a-number"),
    pytest.param("/disputes?limit=1.5", 400, id="limit-fraction"),
    pytest.param("/disputes?limit=", 400, id="limit-empty"),
    pytest.param("/disputes?limit=%C2%B2", 400, id="limit-superscript-digit"),
    pytest.param("/disputes?limit=99999999999999999999", 400, id="limit-beyond-bigint"),
    pytest.param("/disputes?limit=" + "1" * 5000, 400, id="limit-5000-digits"),
]
ORDINARY = [
    pytest.param("/disputes/d-none", 404, id="dispute-unknown"),
    pytest.param("/disputes?limit=500", 200, id="limit-max"),
    pytest.param("/disputes?limit=1&state=pending", 200, id="limit-min"),
    pytest.param("/disputes?escrow_id=" + "x" * 255, 200, id="escrow-longest"),
]


@pytest.fixture(scope="module")
async def http(infra: TestInfra, actor_keys: KeyPair) -> AsyncIterator[httpx.AsyncClient]:
    """The disputes app on its own migrated database; a crash is answered 500, not raised."""
    url = await migrated("disputes", await infra.new_database("disputes"))
    service = build(
        settings_for_test(
            DisputesSettings, database_url=url, actor_token_public_key=actor_keys.public_pem
        )
    )
    async with reading_service(
        service, actor_keys.private_pem, base_url="http://disputes"
    ) as client:
        yield client


@pytest.mark.parametrize(("path", "status"), ODD)
async def test_an_odd_input_is_answered_4xx_in_json(http, path, status):
    answer = await http.get(path)

    assert_refused(answer, status)


@pytest.mark.parametrize(("path", "status"), ORDINARY)
async def test_an_ordinary_read_is_answered_as_before(http, path, status):
    answer = await http.get(path)

    assert_json(answer, status)
