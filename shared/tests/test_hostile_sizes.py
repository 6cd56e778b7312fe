"""Size discipline over the real broker and database (issue 12, points 1–3): no record, however
large or odd, stalls a consumer or stops a service from publishing, and no answer echoes its
input at length."""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from prometheus_client import REGISTRY
from shared.client import SuiteClient
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import MAX_REFUSAL_TEXT
from shared.contract.registry import dlq
from shared.db import Database
from shared.messaging.deadletter import MAX_KEY_BYTES, Record, bounded
from shared.messaging.outbox import MessageTooLarge, OutboxRelay, stage
from shared.messaging.retry import is_transient, is_unsendable
from shared.messaging.runtime import outgoing
from shared.messaging.tables import outbox
from shared.signing import Signer
from shared.testing.events import owned_event
from shared.testing.fixtures import KeyPair, eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import (
    HUGE_AMOUNT,
    count_effects,
    create_tables,
    open_contract,
    probe_service,
)

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024  # the probe's MAX_MESSAGE_BYTES in these tests
PATIENCE = 60.0


@pytest.fixture
async def probe(infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers,
        database_url,
        topic_prefix,
        [actor_keys.public_pem],
        max_message_bytes=LIMIT,
    )
    async with running(service):
        yield service


def headers_of(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_record_over_the_limit_is_dead_lettered_cut_to_size_and_the_partition_flows(
    probe, client: SuiteClient
):
    topic = UserContactUpdated.TOPIC
    huge = b'{"padding": "' + b"x" * (900 * 1024) + b'"}'  # just under Kafka's 1 MiB
    await client.publish(topic, huge, key="k")
    after = owned_event(UserContactUpdated(user_id="u-after"))
    await client.publish(topic, after.encode(), key="k")

    await eventually(lambda: _applied(probe.db, "u-after"), PATIENCE)
    [letter] = await client.watcher.wait_for(lambda: client.watcher.on(dlq(topic)), PATIENCE)
    headers = headers_of(letter)
    assert headers["x-dlq-reason"] == "too_large"
    assert headers["x-dlq-truncated"] == "value"
    assert headers["x-dlq-original-size"] == str(len(huge))
    assert headers["x-dlq-original-sha256"] == hashlib.sha256(huge).hexdigest()
    assert letter.value == huge[:LIMIT]  # what fits, so that the dead letter itself can be sent


async def test_a_command_with_a_huge_type_is_dead_lettered_and_the_service_keeps_answering(
    probe, client: SuiteClient
):
    hostile = client.envelope(open_contract("c-t")).model_copy(update={"type": "T" * 50_000})
    await client.publish("escrow-commands", hostile.encode(), key="c-t")
    answer = await client.execute(open_contract("c-after"))

    assert answer.accepted  # the service still publishes
    [letter] = await client.watcher.wait_for(
        lambda: client.watcher.on(dlq("escrow-commands")), PATIENCE
    )
    headers = headers_of(letter)
    assert headers["x-dlq-reason"] == "not_cloudevent"
    assert len(headers["x-dlq-error"]) <= MAX_REFUSAL_TEXT
    assert await _outbox_largest(probe.db) < 4096  # nothing repeating the input was staged


async def test_a_refusal_lists_a_few_errors_never_every_unknown_field(probe, client: SuiteClient):
    event = client.envelope(open_contract("c-f"))
    noise = {f"field_{n:05d}": n for n in range(3_000)}  # under the limit
    event = event.model_copy(update={"data": {**event.data, **noise}})
    await client.publish("escrow-commands", event.encode(), key="c-f")

    result = await client.watcher.result_of(event.id)
    assert (result.status, result.reason_code) == ("rejected", "malformed")
    assert len(result.message) <= MAX_REFUSAL_TEXT
    assert "and 2995 more errors" in result.message
    assert await count_effects(probe.db, "contract") == 0


async def test_a_handler_that_would_publish_too_much_fails_alone_and_publishes_nothing(
    probe, client: SuiteClient
):
    big = client.envelope(open_contract("c-big", agreed=HUGE_AMOUNT))
    await client.publish("escrow-commands", big.encode(), key="c-big")
    fine = await client.execute(open_contract("c-fine"))

    result = await client.watcher.result_of(big.id)
    assert (result.status, result.reason_code) == ("rejected", "internal_error")
    assert fine.accepted
    [letter] = await client.watcher.wait_for(
        lambda: client.watcher.on(dlq("escrow-commands")), PATIENCE
    )
    assert headers_of(letter)["x-dlq-reason"] == "handler_failed"
    assert "MessageTooLarge" in headers_of(letter)["x-dlq-error"]
    assert await count_effects(probe.db, "contract", "c-big") == 0
    assert await _outbox_largest(probe.db) < LIMIT


# --- the relay -------------------------------------------------------------------------------


@pytest.fixture
async def db(database_url: str):
    await create_tables(database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


def message(user_id: str, key: str):
    out = outgoing(UserContactUpdated(user_id=user_id), signer=Signer.development("marketplace"))
    return out.__class__(out.event, out.topic, key)


async def test_a_row_the_broker_can_never_take_is_quarantined_and_the_rest_goes_out(db):
    async with db.transaction() as session:
        await stage(
            session,
            [
                message("first", "k"),
                message("refused", "k"),
                message("behind", "k"),
                message("other", "o"),
            ],
        )
    sent: list[str] = []
    tries: list[str] = []

    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        user = new_event_user(value)
        tries.append(user)
        if user == "refused":
            raise MessageSizeTooLargeError("the broker refuses this record")
        sent.append(user)

    relay = OutboxRelay(db, send, service="tests-quarantine", poll_interval=0.05)
    quarantined_before = _sample(
        "outbox_quarantined_total", service="tests-quarantine", topic="user-contacts"
    )
    assert await relay.publish_batch() == 4  # three published and one set aside: none pending
    assert await relay.publish_batch() == 0  # and it is never tried again
    assert sorted(sent) == ["behind", "first", "other"]
    assert sent.index("first") < sent.index("behind")
    assert tries.count("refused") == 1
    async with db.transaction() as session:
        rows = (
            await session.execute(
                sa.select(outbox.c.quarantined_at, outbox.c.failure, outbox.c.published_at).where(
                    outbox.c.quarantined_at.is_not(None)
                )
            )
        ).all()
    [(when, failure, published_at)] = rows
    assert when is not None and published_at is None
    assert "MessageSizeTooLargeError" in failure
    quarantined = _sample(
        "outbox_quarantined_total", service="tests-quarantine", topic="user-contacts"
    )
    assert quarantined - quarantined_before == 1
    await relay.housekeeping()
    assert _sample("outbox_quarantined_rows", service="tests-quarantine") == 1
    await relay.stop()


async def test_an_outgoing_message_over_the_limit_is_refused_at_stage(db):
    with pytest.raises(MessageTooLarge):
        async with db.transaction() as session:
            await stage(session, [message("x" * 2000, "k")], limit=1024)
    assert await _outbox_largest(db) == 0


# --- units -----------------------------------------------------------------------------------


def test_a_message_the_broker_can_never_take_is_not_transient():
    assert is_unsendable(MessageSizeTooLargeError()) and not is_transient(
        MessageSizeTooLargeError()
    )
    wrapped = RuntimeError("send failed")
    wrapped.__cause__ = MessageSizeTooLargeError()
    assert is_unsendable(wrapped) and not is_transient(wrapped)
    assert is_transient(KafkaConnectionError()) and not is_unsendable(KafkaConnectionError())


def test_a_dead_letter_is_cut_to_fit_and_says_what_it_was():
    record = Record("t", 0, 1, b"k" * 5000, b"v" * 10_000)
    key, value, headers = bounded(record, 4096)
    assert (len(key), len(value)) == (MAX_KEY_BYTES, 4096)
    assert headers["x-dlq-truncated"] == "value,key"
    assert headers["x-dlq-original-size"] == "10000"
    assert headers["x-dlq-original-sha256"] == hashlib.sha256(b"v" * 10_000).hexdigest()
    small = Record("t", 0, 1, b"k", b"v")
    assert bounded(small, 4096) == (b"k", b"v", {})


# --- helpers ---------------------------------------------------------------------------------


def new_event_user(value: bytes) -> str:
    return str(json.loads(value)["data"]["user_id"])


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"escrow_suite_{name}", labels) or 0.0


async def _applied(db: Database, user_id: str) -> bool:
    return await count_effects(db, "contact", user_id) > 0


async def _outbox_largest(db: Database) -> int:
    async with db.transaction() as session:
        found = await session.scalar(sa.select(sa.func.max(sa.func.length(outbox.c.payload))))
    return int(found or 0)
