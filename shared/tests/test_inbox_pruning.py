"""The inbox is pruned (issue 14 point 6: it grew without end), and what it forgot cannot be
applied again: a record sent longer ago than MAX_RECORD_AGE_S is refused `too_old`, and the
settings keep that limit a day under the inbox's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from pydantic import ValidationError
from shared.client import SuiteClient
from shared.clock import ManualClock
from shared.contract.directory import UserContactUpdated
from shared.contract.registry import dlq
from shared.db import Database
from shared.messaging import inbox as inbox_module
from shared.messaging.inbox import MAX_RECORD_AGE_S
from shared.messaging.outbox import OutboxRelay
from shared.messaging.tables import inbox
from shared.service import Service
from shared.settings import ServiceSettings
from shared.testing.events import owned_event
from shared.testing.fixtures import KeyPair, eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import count_effects, create_tables, open_contract, probe_service

pytestmark = pytest.mark.integration

TOO_OLD = timedelta(seconds=MAX_RECORD_AGE_S + 3_600)


@pytest.fixture
async def probe(infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        yield service


async def _dead_reasons(client: SuiteClient, topic: str, count: int = 1) -> list[bytes]:
    dead = await client.watcher.wait_for(
        lambda: (found := client.watcher.on(dlq(topic))) and len(found) >= count and found
    )
    return [dict(record.headers)["x-dlq-reason"] for record in dead]


async def test_a_command_sent_longer_ago_than_the_age_limit_is_answered_too_old(
    probe: Service, client: SuiteClient
):
    sent = datetime.now(UTC) - TOO_OLD
    event = client.envelope(open_contract("c-old")).model_copy(update={"time": sent})
    await client.publish("escrow-commands", event.encode(), key="c-old")

    result = await client.watcher.result_of(event.id)
    assert (result.status, result.reason_code) == ("rejected", "too_old")
    assert await _dead_reasons(client, "escrow-commands") == [b"too_old"]
    assert await count_effects(probe.db, "contract") == 0


async def test_an_event_sent_longer_ago_than_the_age_limit_is_dead_lettered_unapplied(
    probe: Service, client: SuiteClient
):
    stale = owned_event(UserContactUpdated(user_id="u-old"), now=datetime.now(UTC) - TOO_OLD)
    fresh = owned_event(UserContactUpdated(user_id="u-new"))
    for event in (stale, fresh):
        await client.publish(UserContactUpdated.TOPIC, event.encode(), key=event.data["user_id"])

    assert await _dead_reasons(client, UserContactUpdated.TOPIC) == [b"too_old"]
    await eventually(lambda: _effects_of(probe, "u-new"))
    assert await count_effects(probe.db, "contact", "u-old") == 0


async def _effects_of(probe: Service, user_id: str) -> bool:
    return await count_effects(probe.db, "contact", user_id) >= 1


async def _inbox_ids(db: Database) -> set[str]:
    async with db.transaction() as session:
        return set(await session.scalars(sa.select(inbox.c.message_id)))


async def _never_sent(*_: object) -> None:
    raise AssertionError("housekeeping sends nothing")


async def test_housekeeping_forgets_what_was_processed_before_the_retention_oldest_first(
    database_url: str,
):
    # a relay of its own, no service: no housekeeping round of a running relay races this one
    await create_tables(database_url)
    db = Database(database_url)
    relay = OutboxRelay(db, _never_sent, service="prune-test")
    now = datetime.now(UTC)
    ages = {"m-70d": timedelta(days=70), "m-61d": timedelta(days=61), "m-1d": timedelta(days=1)}
    rows = [
        {"message_id": m, "type": "t", "topic": "x", "fingerprint": "f", "processed_at": now - a}
        for m, a in ages.items()
    ]
    try:
        async with db.transaction() as session:
            await session.execute(sa.insert(inbox), rows)
        async with db.transaction() as session:  # a bounded round: the oldest go first
            assert await inbox_module.prune(session, now - relay.inbox_retention, limit=1) == 1
        assert await _inbox_ids(db) == {"m-61d", "m-1d"}

        await relay.housekeeping()
        assert await _inbox_ids(db) == {"m-1d"}
        pruned = REGISTRY.get_sample_value(
            "escrow_suite_inbox_pruned_total", {"service": "prune-test"}
        )
        assert pruned == 1
    finally:
        await db.dispose()


async def test_a_copy_of_a_message_the_inbox_forgot_is_refused_not_applied_again(
    probe: Service, client: SuiteClient
):
    event = owned_event(UserContactUpdated(user_id="u-once"))
    await client.publish(UserContactUpdated.TOPIC, event.encode(), key="u-once")
    await eventually(lambda: _effects_of(probe, "u-once"))

    # the retention passes: housekeeping forgets the message, and its copy comes back
    later = datetime.now(UTC) + probe.relay.inbox_retention + timedelta(hours=1)
    async with probe.db.transaction() as session:
        assert await inbox_module.prune(session, later, limit=100) >= 1
    assert event.id not in await _inbox_ids(probe.db)
    probe.runtime.clock = ManualClock(later)
    await client.publish(UserContactUpdated.TOPIC, event.encode(), key="u-once")

    assert await _dead_reasons(client, UserContactUpdated.TOPIC) == [b"too_old"]
    assert await count_effects(probe.db, "contact") == 1


def test_the_age_limit_stays_a_day_under_the_inbox_retention():
    with pytest.raises(ValidationError, match="MAX_RECORD_AGE_S"):
        ServiceSettings(inbox_retention_s=30 * 86_400, max_record_age_s=30 * 86_400)
    ServiceSettings(inbox_retention_s=31 * 86_400, max_record_age_s=30 * 86_400)
