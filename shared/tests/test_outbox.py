"""The transactional outbox and its relay over the real broker and database."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from shared.client import SuiteClient
from shared.contract.directory import UserContactUpdated
from shared.db import Database
from shared.messaging.outbox import OutboxRelay, Send, stage
from shared.messaging.runtime import outgoing
from shared.messaging.tables import outbox
from shared.service import broker_sender
from shared.testing.fixtures import eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import count_effects, create_tables, probe_service

pytestmark = pytest.mark.integration

TOPIC = UserContactUpdated.TOPIC


def message(user_id: str, key: str = "one-key"):
    out = outgoing(UserContactUpdated(user_id=user_id), source="tests")
    return out.__class__(out.event, out.topic, key)


def published(client: SuiteClient) -> list[str]:
    return [e.data["user_id"] for e in client.watcher.events(TOPIC)]


@pytest.fixture
async def db(database_url: str):
    await create_tables(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def sender(infra: TestInfra):
    from faststream.kafka import KafkaBroker

    broker = KafkaBroker(infra.bootstrap_servers)
    await broker.start()
    yield broker_sender(broker)
    await broker.stop()


def relay_for(db: Database, send: Send, prefix: str) -> OutboxRelay:
    return OutboxRelay(db, send, service="tests", topic_prefix=prefix, poll_interval=0.05)


async def test_committed_messages_are_published_and_rolled_back_ones_never(
    db, sender, topic_prefix, client
):
    async with db.transaction() as session:
        await stage(session, [message("committed-1")])
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await stage(session, [message("rolled-back")])
            raise RuntimeError("the state change failed")
    async with db.transaction() as session:
        await stage(session, [message("committed-2")])

    relay = relay_for(db, sender, topic_prefix)
    while await relay.publish_batch():
        pass
    # One key, one partition: once committed-2 is seen, anything before it has been seen too.
    await client.watcher.wait_for(lambda: "committed-2" in published(client))
    assert published(client) == ["committed-1", "committed-2"]


async def test_rows_committed_out_of_order_are_never_skipped(db, sender, topic_prefix, client):
    relay = relay_for(db, sender, topic_prefix)
    async with db.sessions() as slow:
        await slow.begin()
        await stage(slow, [message("slow", key="a")])  # takes the lower id, commits last
        async with db.transaction() as fast:
            await stage(fast, [message("fast", key="b")])
        await relay.publish_batch()
        await client.watcher.wait_for(lambda: "fast" in published(client))
        await slow.commit()
    await relay.publish_batch()
    await client.watcher.wait_for(lambda: "slow" in published(client))
    async with db.transaction() as session:
        left = await session.scalar(
            sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        )
    assert left == 0


async def test_messages_of_one_key_are_published_in_commit_order(db, sender, topic_prefix, client):
    names = [f"m{i:03d}" for i in range(120)]
    for name in names:
        async with db.transaction() as session:
            await stage(session, [message(name)])
    relay = relay_for(db, sender, topic_prefix)
    relay.start()
    try:
        await client.watcher.wait_for(lambda: len(published(client)) >= len(names))
    finally:
        await relay.stop()
    assert published(client) == names


async def test_a_relay_dying_between_publish_and_mark_causes_a_duplicate_the_inbox_absorbs(
    db, sender, infra, database_url, topic_prefix, client, actor_keys
):
    async with db.transaction() as session:
        await stage(session, [message("once", key="k")])

    sent = asyncio.Event()

    async def send_then_hang(
        topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> object:
        await sender(topic, key, value, headers)
        sent.set()
        await asyncio.Event().wait()  # the process "dies" here, before the mark commits
        return None

    doomed = relay_for(db, send_then_hang, topic_prefix)
    crash = asyncio.create_task(doomed.publish_batch())
    await sent.wait()
    await client.watcher.wait_for(lambda: "once" in published(client))
    crash.cancel()  # the transaction that would mark the row is never committed
    await asyncio.gather(crash, return_exceptions=True)

    async with db.transaction() as session:
        unmarked = await session.scalar(
            sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        )
    assert unmarked == 1  # not lost: still waiting to be published

    survivor = relay_for(db, sender, topic_prefix)
    await survivor.publish_batch()
    await client.watcher.wait_for(lambda: published(client).count("once") == 2)
    ids = {e.id for e in client.watcher.events(TOPIC)}
    assert len(ids) == 1  # the duplicate is the same CloudEvent, so an inbox can recognise it

    duplicates_before = _duplicates()
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        await eventually(lambda: _absorbed(duplicates_before))
        assert await count_effects(service.db, "contact", "once") == 1


def _duplicates() -> float:
    labels = {"service": "probe", "topic": TOPIC}
    return REGISTRY.get_sample_value("escrow_suite_inbox_duplicates_total", labels) or 0.0


async def _absorbed(before: float) -> bool:
    return _duplicates() >= before + 1
