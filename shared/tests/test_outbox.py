"""The transactional outbox and its relay over the real broker and database."""

from __future__ import annotations

import asyncio
import json

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
from shared.signing import Signer
from shared.testing.fixtures import eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import count_effects, create_tables, probe_service

pytestmark = pytest.mark.integration

TOPIC = UserContactUpdated.TOPIC


def message(user_id: str, key: str = "one-key"):
    out = outgoing(UserContactUpdated(user_id=user_id), signer=Signer.development("marketplace"))
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


async def test_a_send_failing_part_way_keeps_each_keys_order_and_is_retried(
    db, sender, topic_prefix, client
):
    rows = [("K", "k1"), ("L", "l1"), ("K", "k2"), ("M", "m1"), ("K", "k3"), ("L", "l2")]
    rows += [("K", "k4"), ("M", "m2")]
    for key, name in rows:  # one commit each: the outbox ids are the commit order
        async with db.transaction() as session:
            await stage(session, [message(name, key=key)])
    attempts: list[tuple[str, bool]] = []  # (row, acknowledged), in the order they were sent
    refused = RuntimeError("the broker refused k2")

    async def k2_fails_once(
        topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> object:
        name = _name(value)
        if name == "k2" and ("k2", False) not in attempts:
            attempts.append((name, False))
            raise refused
        result = await sender(topic, key, value, headers)
        attempts.append((name, True))
        return result

    relay = relay_for(db, k2_fails_once, topic_prefix)
    with pytest.raises(RuntimeError) as raised:
        await relay.publish_batch()
    assert raised.value is refused  # the first send error, once what was sent is marked

    # First pass: K stopped at its failed row; the other keys went out whole.
    assert [name for name, _ in attempts if name.startswith("k")] == ["k1", "k2"]
    assert await _unpublished(db) == ["k2", "k3", "k4"]
    first_pass = {"k1", "l1", "l2", "m1", "m2"}
    await client.watcher.wait_for(lambda: first_pass <= set(published(client)))

    # A later pass sends the rest of K, in order, after its failed row.
    while await relay.publish_batch():
        pass
    assert await _unpublished(db) == []
    await client.watcher.wait_for(lambda: {"k2", "k3", "k4"} <= set(published(client)))
    acknowledged = [name for name, ok in attempts if ok]
    assert sorted(acknowledged) == sorted(name for _, name in rows)  # each sent once
    assert [n for n in acknowledged if n.startswith("k")] == ["k1", "k2", "k3", "k4"]
    on_the_wire = published(client)
    assert [n for n in on_the_wire if n.startswith("k")] == ["k1", "k2", "k3", "k4"]
    assert [n for n in on_the_wire if n.startswith("l")] == ["l1", "l2"]
    assert [n for n in on_the_wire if n.startswith("m")] == ["m1", "m2"]


def _name(value: bytes) -> str:
    return str(json.loads(value)["data"]["user_id"])


async def _unpublished(db: Database) -> list[str]:
    async with db.transaction() as session:
        payloads = await session.scalars(
            sa.select(outbox.c.payload).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id)
        )
        return [_name(payload) for payload in payloads]


async def test_stopping_lets_the_batch_being_published_finish_instead_of_sending_it_twice(
    db, sender, topic_prefix, client
):
    names = [f"s{i:02d}" for i in range(10)]
    async with db.transaction() as session:
        await stage(session, [message(name, key=name) for name in names])
    started = asyncio.Event()

    async def slow_send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> object:
        written = await sender(topic, key, value, headers)
        started.set()
        await asyncio.sleep(0.2)  # the broker has the record; its acknowledgement is slow
        return written

    relay = relay_for(db, slow_send, topic_prefix)
    relay.start()
    await started.wait()
    await relay.stop()  # while the batch is in flight
    await client.watcher.wait_for(lambda: len(published(client)) >= len(names))
    marker = relay_for(db, sender, topic_prefix)
    async with db.transaction() as session:
        await stage(session, [message("marker", key="s00")])
    await marker.publish_batch()
    await client.watcher.wait_for(lambda: "marker" in published(client))
    assert sorted(published(client)) == sorted([*names, "marker"])  # each exactly once


async def test_a_relay_started_again_after_a_stop_publishes_again(db, sender, topic_prefix, client):
    relay = relay_for(db, sender, topic_prefix)
    relay.start()
    await relay.stop()
    relay.start()
    try:
        async with db.transaction() as session:
            await stage(session, [message("after-restart")])
        relay.nudge()
        await client.watcher.wait_for(lambda: "after-restart" in published(client))
    finally:
        await relay.stop()
