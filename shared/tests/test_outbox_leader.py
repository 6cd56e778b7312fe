"""The relay holds no transaction while it talks to the broker, and its advisory lock has a
keyspace of its own (issue 14 point 4): the leader's statements run in autocommit on its own
connection, and its lock is a two-int key, apart from the bigint keys of `pg_advisory_xact_lock(
hashtext(...))` that payments takes on accounts. Checked in PostgreSQL's own views while a send is
held open."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from shared.contract.directory import UserContactUpdated
from shared.db import Database
from shared.messaging.outbox import RELAY_LOCK, OutboxRelay, stage
from shared.messaging.runtime import outgoing
from shared.signing import Signer
from shared.testing.probe import create_tables

pytestmark = pytest.mark.integration

#: generous: nothing asserts on time
PATIENCE = 60


@pytest.fixture
async def db(database_url: str):
    await create_tables(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


async def test_no_transaction_is_open_while_the_relay_waits_on_the_broker(db):
    async with db.transaction() as session:
        out = outgoing(UserContactUpdated(user_id="u-1"), signer=Signer.development("marketplace"))
        await stage(session, [out])
    sending, answer = asyncio.Event(), asyncio.Event()

    async def slow_broker(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        sending.set()
        await answer.wait()

    relay = OutboxRelay(db, slow_broker, service="tests", topic_prefix="", poll_interval=0.05)
    batch = asyncio.create_task(relay.publish_batch())
    try:
        async with asyncio.timeout(PATIENCE):
            await sending.wait()
        async with db.transaction() as session:
            # every other session of this database: none may sit in an open transaction
            states = (
                await session.execute(
                    sa.text(
                        "SELECT state, xact_start IS NOT NULL AS in_transaction "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    )
                )
            ).all()
            locks = (
                await session.execute(
                    sa.text(
                        "SELECT classid::bigint, objid::bigint, objsubid FROM pg_locks "
                        "WHERE locktype = 'advisory' AND granted "
                        "AND database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    )
                )
            ).all()
        assert states, "the relay's connection is there"
        assert [s for s in states if s.in_transaction or s.state != "idle"] == []
        # a two-int key is (classid, objid) = (key1, key2) with objsubid 2; a bigint key has 1
        assert [tuple(lock) for lock in locks] == [(RELAY_LOCK[0], RELAY_LOCK[1], 2)]
    finally:
        answer.set()
        async with asyncio.timeout(PATIENCE):
            assert await batch == 1
        await relay.stop()
