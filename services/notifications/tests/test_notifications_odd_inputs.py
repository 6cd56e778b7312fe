"""The delivery log's API over odd input, against the real app and database: a delivery id that
is not a whole number from 1 to PostgreSQL's bigint maximum is 404 `not_found`, a parameter not
of its form 400 `malformed`, both in JSON, never 500 (issue 12)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from notifications.entrypoints.app import build
from notifications.settings import NotificationsSettings
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.reads import assert_json, assert_refused, reading_service

pytestmark = pytest.mark.integration

ODD = [
    pytest.param("/deliveries/99999999999999999999", 404, id="id-beyond-bigint"),
    pytest.param("/deliveries/9223372036854775808", 404, id="id-bigint-max-plus-one"),
    pytest.param("/deliveries/" + "9" * 5000, 404, id="id-5000-digits"),
    pytest.param("/deliveries/0", 404, id="id-zero"),
    pytest.param("/deliveries/-1", 404, id="id-negative"),
    pytest.param("/deliveries/abc", 404, id="id-not-a-number"),
    pytest.param("/deliveries/%C2%B2", 404, id="id-superscript-digit"),
    pytest.param("/deliveries/%00", 404, id="id-nul"),
    pytest.param("/deliveries?limit=-5", 400, id="limit-negative"),
    pytest.param("/deliveries?limit=0", 400, id="limit-zero"),
    pytest.param("/deliveries?limit=501", 400, id="limit-above-max"),
    pytest.param("/deliveries?limit=abc", 400, id="limit-not-a-number"),
    pytest.param("/deliveries?limit=", 400, id="limit-empty"),
    pytest.param("/deliveries?limit=99999999999999999999", 400, id="limit-beyond-bigint"),
    pytest.param("/deliveries?limit=" + "1" * 5000, 400, id="limit-5000-digits"),
    *(
        pytest.param(f"/deliveries?{name}=%00", 400, id=f"{name}-nul")
        for name in ("event_id", "user_id", "status")
    ),
    pytest.param("/deliveries?user_id=" + "x" * 256, 400, id="user-too-long"),
]
ORDINARY = [
    pytest.param("/deliveries/9223372036854775807", 404, id="id-bigint-max"),
    pytest.param("/deliveries/1", 404, id="id-unknown"),
    pytest.param("/deliveries?limit=500", 200, id="limit-max"),
    pytest.param("/deliveries?limit=1&status=sent", 200, id="limit-min"),
    pytest.param("/deliveries", 200, id="defaults"),
]


@pytest.fixture(scope="module")
async def http(infra: TestInfra, actor_keys: KeyPair) -> AsyncIterator[httpx.AsyncClient]:
    """The notifications app on its own migrated database; a crash is answered 500, not
    raised. Nothing is delivered: the service is not started."""
    url = await migrated("notifications", await infra.new_database("notifications"))
    service = build(
        settings_for_test(
            NotificationsSettings, database_url=url, actor_token_public_key=actor_keys.public_pem
        )
    )
    async with reading_service(
        service, actor_keys.private_pem, base_url="http://notifications"
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
