"""A record nested deeper than the JSON parser goes (found by `make fuzz`): 6 KB of `{"a":` is
enough. It must be dead-lettered `not_json` like any unparsable record; it used to raise
`RecursionError` out of the batch, which was then fetched again forever (a stalled consumer)."""

from __future__ import annotations

import pytest
from shared.client import SuiteClient
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import EnvelopeError, decode
from shared.contract.registry import dlq
from shared.service import Service
from shared.testing.events import owned_event
from shared.testing.fixtures import KeyPair, eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import count_effects, create_tables, probe_service

PATIENCE = 60.0


def deep(depth: int = 1000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("raw", [deep(), b"[" * 50_000 + b"]" * 50_000])
def test_json_nested_too_deep_is_not_json(raw: bytes) -> None:
    with pytest.raises(EnvelopeError) as refused:
        decode(raw)
    assert refused.value.reason == "not_json"


@pytest.mark.integration
async def test_a_record_nested_too_deep_is_dead_lettered_and_the_partition_flows(
    infra: TestInfra,
    database_url: str,
    topic_prefix: str,
    actor_keys: KeyPair,
    client: SuiteClient,
) -> None:
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    topic = UserContactUpdated.TOPIC
    async with running(service):
        await client.publish(topic, deep(), key="k")
        after = owned_event(UserContactUpdated(user_id="u-after-deep"))
        await client.publish(topic, after.encode(), key="k")

        await eventually(lambda: _applied(service, "u-after-deep"), PATIENCE)
        [letter] = await client.watcher.wait_for(lambda: client.watcher.on(dlq(topic)), PATIENCE)
    assert dict(letter.headers)["x-dlq-reason"] == b"not_json"


async def _applied(service: Service, user_id: str) -> bool:
    return await count_effects(service.db, "contact", user_id) > 0
