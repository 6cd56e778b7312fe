"""Batch consumption over the real broker and database: poison and refusals inside a batch, a
crash mid-batch, per-key order across concurrent lanes, duplicates inside a batch, binary headers.

Records are published before the probe starts, so that its first fetch holds them all (a batch of
up to `kafka_max_records`); the assertions hold however the broker splits them into batches.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import RecordMetadata
from prometheus_client import REGISTRY
from shared.client import SuiteClient
from shared.contract.base import Message
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import CONTENT_TYPE, CloudEvent
from shared.contract.escrow import OpenContract
from shared.contract.registry import COMMAND_RESULTS, dlq, on_wire
from shared.db import Database
from shared.messaging.tables import inbox, outbox
from shared.service import Service
from shared.testing.events import owned_event
from shared.testing.fixtures import KeyPair, eventually
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import (
    HANGING,
    POISON_AMOUNT,
    POISON_PREFIX,
    create_tables,
    effects,
    open_contract,
    probe_service,
)

pytestmark = pytest.mark.integration

CONTACTS = UserContactUpdated.TOPIC
COMMANDS = OpenContract.TOPIC
CONSUMED = (CONTACTS, COMMANDS)
#: every wait is generous: the machine is shared and slow at times; nothing asserts on time
PATIENCE = 60.0


def contact(user_id: str) -> UserContactUpdated:
    return UserContactUpdated(user_id=user_id, email=f"{user_id}@example.org")


@dataclass(frozen=True)
class Sent:
    """One record this test published, and where the broker put it (once it was delivered)."""

    event: CloudEvent
    topic: str
    key: str
    subject: str  # the probe's effect subject: the contact's user id, the contract id
    delivery: asyncio.Future[RecordMetadata]

    @property
    def partition(self) -> int:
        return self.delivery.result().partition

    @property
    def offset(self) -> int:
        return self.delivery.result().offset


class Publisher:
    """Publishes with aiokafka as a producer upstream would, and remembers what it published."""

    def __init__(self, client: SuiteClient) -> None:
        self.client = client
        self.sent: list[Sent] = []

    async def __call__(
        self,
        message: Message,
        *,
        key: str | None = None,
        event: CloudEvent | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Sent:
        """Queue `message` (as `event`, if given: a redelivery) under `key`; see `delivered`.

        One producer keeps a partition's records in order: they need not be awaited one by one.
        """
        client = self.client
        if event is None:
            command = isinstance(message, OpenContract)
            event = client.envelope(message) if command else owned_event(message)
        key = key or message.kafka_key()
        delivery = await client.producer.send(
            on_wire(message.TOPIC, client.prefix),
            event.encode(),
            key=key.encode(),
            headers=headers or [("content-type", CONTENT_TYPE.encode())],
        )
        subject = getattr(message, "user_id", None) or getattr(message, "contract_id", key)
        self.sent.append(Sent(event, message.TOPIC, key, subject, delivery))
        return self.sent[-1]

    async def delivered(self) -> None:
        """Every queued record is acknowledged by the broker (do it before the probe starts)."""
        await self.client.producer.flush()
        for sent in self.sent:
            sent.delivery.result()

    def ends(self, prefix: str) -> dict[TopicPartition, int]:
        """The offset after the last record published on each partition of the consumed topics.

        (Tansu's ListOffsets answers the base offset of the last record batch, plus one, so the
        end offsets are counted here instead of asked for.)
        """
        found = {TopicPartition(on_wire(t, prefix), p): 0 for t in CONSUMED for p in range(3)}
        for sent in self.sent:
            tp = TopicPartition(on_wire(sent.topic, prefix), sent.partition)
            found[tp] = max(found[tp], sent.offset + 1)
        return found


@pytest.fixture
async def publish(client: SuiteClient) -> Publisher:
    return Publisher(client)


@pytest.fixture
async def make_probe(
    infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair
) -> Callable[..., Service]:
    """Builds (does not start) a probe service on this test's database and topics."""
    await create_tables(database_url)

    def make(**options: Any) -> Service:
        return probe_service(
            infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem], **options
        )

    return make


class Positions:
    """A consumer group's committed offsets on the consumed topics, read without joining it."""

    def __init__(self, infra: TestInfra, group_id: str, prefix: str) -> None:
        self.prefix = prefix
        self.partitions = [
            TopicPartition(on_wire(topic, prefix), p) for topic in CONSUMED for p in range(3)
        ]
        self.reader = AIOKafkaConsumer(
            bootstrap_servers=infra.bootstrap_servers, group_id=group_id, enable_auto_commit=False
        )

    async def committed(self) -> dict[TopicPartition, int]:
        found = {tp: await self.reader.committed(tp) for tp in self.partitions}
        return {tp: offset if offset and offset > 0 else 0 for tp, offset in found.items()}


@asynccontextmanager
async def positions(infra: TestInfra, group_id: str, prefix: str) -> AsyncIterator[Positions]:
    found = Positions(infra, group_id, prefix)
    await found.reader.start()
    try:
        yield found
    finally:
        await found.reader.stop()


async def settled(db: Database, offsets: Positions, published: Publisher) -> bool:
    """Every published record consumed and committed, every outbox row published."""
    async with db.transaction() as session:
        unpublished = await session.scalar(
            sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
        )
    if unpublished:
        return False
    return await offsets.committed() == published.ends(offsets.prefix)


async def applied(db: Database) -> list[tuple[str, str]]:
    """The probe's effects (kind, subject) in the order they were written."""
    async with db.transaction() as session:
        rows = await session.execute(sa.select(effects.c.kind, effects.c.subject).order_by("id"))
    return [(row.kind, row.subject) for row in rows]


async def staged(db: Database, type_suffix: str) -> list[tuple[str, dict[str, Any]]]:
    """Outbox rows whose type ends with `type_suffix`: (CloudEvent id, data), in commit order."""
    async with db.transaction() as session:
        rows = await session.execute(
            sa.select(outbox.c.message_id, outbox.c.payload)
            .where(outbox.c.type.endswith(type_suffix))
            .order_by(outbox.c.id)
        )
    return [(row.message_id, json.loads(row.payload)["data"]) for row in rows]


async def results_by_command(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every CommandResult the probe staged (so published), by command id."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, data in await staged(db, ".CommandResult.v1"):
        found[data["command_id"]].append(data)
    return found


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"escrow_suite_{name}", {"service": "probe", **labels}) or 0.0


def dead_letters() -> dict[tuple[str, str], float]:
    """(topic, reason) -> records the probe dead-lettered so far in this process."""
    found: dict[tuple[str, str], float] = Counter()
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.name == "escrow_suite_dead_lettered_total" and s.labels["service"] == "probe":
                found[s.labels["topic"], s.labels["reason"]] += s.value
    return found


def since(before: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in dead_letters().items() if v > before.get(k, 0.0)}


def batches() -> tuple[float, float]:
    """(batches, records) the probe handled so far in this process."""
    return sample("batch_records_count"), sample("batch_records_sum")


def in_batches_since(before: tuple[float, float]) -> bool:
    """Some batch since `before` held more than one record (so the batch path was taken)."""
    count, records = batches()
    return records - before[1] > count - before[0]


# --- 1. a poison record inside a batch -------------------------------------------------------


async def test_a_poison_record_is_dead_lettered_alone_and_its_key_keeps_its_order(
    make_probe, publish, infra, topic_prefix, client
):
    keys = ["a", "b", "c", "d", "e", "f"]
    contacts: dict[str, list[Sent]] = defaultdict(list)
    for n in range(10):
        for key in keys:
            user = f"{POISON_PREFIX}-{key}" if (key, n) == ("c", 4) else f"{key}-{n:02d}"
            contacts[key].append(await publish(contact(user), key=key))
    poison_event = contacts["c"][4]
    accepted = [await publish(open_contract(f"ok-{n}")) for n in range(6)]
    poison = await publish(open_contract("bad", agreed=POISON_AMOUNT), key="bad")
    await publish(open_contract("bad", POISON_AMOUNT), key="bad", event=poison.event)  # again
    later = await publish(open_contract("after-bad"), key="bad")  # the poison's key
    dead_before = dead_letters()
    await publish.delivered()
    batches_before = batches()

    calls: list[str] = []
    service = make_probe(calls=calls)
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        done = await applied(service.db)
        results = await results_by_command(service.db)
        opened = [data["contract_id"] for _, data in await staged(service.db, "ContractOpened.v1")]
        dead = since(dead_before)

        # Every other record applied exactly once; neither poison left anything behind.
        expected = [("contact", s.subject) for key in keys for s in contacts[key]]
        expected.remove(("contact", poison_event.subject))
        expected += [("contract", s.subject) for s in [*accepted, later]]
        assert Counter(done) == Counter(expected)  # (a deferred record must not be lost)
        assert sorted(opened) == sorted(s.subject for s in [*accepted, later])

        # The later records of the poison's key waited for it, and kept their order.
        last_try = max(i for i, s in enumerate(calls) if s == poison_event.subject)
        for later_one in contacts["c"][5:]:
            assert calls.index(later_one.subject) > last_try
        assert calls.index("after-bad") > max(i for i, s in enumerate(calls) if s == "bad")
        of_c = [s for kind, s in done if kind == "contact" and s.startswith("c-")]
        assert of_c == [s.subject for s in contacts["c"] if s is not poison_event]

        # Tried in its group, then alone until it failed for good; never again.
        attempts = 1 + service.settings.handler_failure_attempts
        assert calls.count(poison_event.subject) == attempts
        assert calls.count("bad") == attempts  # its redelivered copy was answered, not handled

        # The poison command (both copies) is answered `internal_error`, with the same answer.
        assert [r["reason_code"] for r in results[poison.event.id]] == ["internal_error"] * 2
        assert results[poison.event.id][0] == results[poison.event.id][1]
        assert all(r["status"] == "rejected" for r in results[poison.event.id])
        for s in [*accepted, later]:
            assert [r["status"] for r in results[s.event.id]] == ["accepted"]
        assert set(results) == {s.event.id for s in [*accepted, poison, later]}

        # Each poison dead-lettered once (after the batch, as the metrics of this process say)...
        assert dead == {(CONTACTS, "handler_failed"): 1, (COMMANDS, "handler_failed"): 1}
        assert in_batches_since(batches_before)

    # ... with its bytes, its key and where it came from.
    for topic, original in ((CONTACTS, poison_event), (COMMANDS, poison)):
        [letter] = await client.watcher.wait_for(
            lambda t=topic: client.watcher.on(dlq(t)), PATIENCE
        )
        headers = {k: v.decode() for k, v in letter.headers}
        assert letter.value == original.event.encode()
        assert letter.key == original.key.encode()
        assert headers["x-dlq-reason"] == "handler_failed"
        assert "RuntimeError" in headers["x-dlq-error"]
        assert headers["x-dlq-service"] == "probe"
        assert headers["x-dlq-original-topic"] == topic
        assert headers["x-dlq-original-partition"] == str(original.partition)
        assert headers["x-dlq-original-offset"] == str(original.offset)
    on_wire_result = await client.watcher.result_of(poison.event.id, PATIENCE)
    assert (on_wire_result.status, on_wire_result.reason_code) == ("rejected", "internal_error")


# --- 2. a refusal inside a batch -------------------------------------------------------------


async def test_a_refusal_in_a_batch_rejects_that_command_alone(
    make_probe, publish, infra, topic_prefix, client
):
    sent = []
    for n in range(12):
        if n == 7:
            sent.append(await publish(open_contract("thirteen", agreed=13)))
        sent.append(await publish(open_contract(f"fine-{n}")))
        sent.append(await publish(contact(f"u-{n}"), key=f"fine-{n}"))
    commands = [s for s in sent if s.topic == COMMANDS]
    refused = next(s for s in commands if s.subject == "thirteen")
    accepted = [s for s in commands if s is not refused]
    await publish.delivered()
    batches_before = batches()

    calls: list[str] = []
    service = make_probe(calls=calls)
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        results = await results_by_command(service.db)
        done = await applied(service.db)
        opened = [data["contract_id"] for _, data in await staged(service.db, "ContractOpened.v1")]
        assert in_batches_since(batches_before)

    # Exactly one answer per command: one rejection with its reason, all others accepted.
    assert {command_id: len(r) for command_id, r in results.items()} == {
        s.event.id: 1 for s in commands
    }
    [rejection] = results[refused.event.id]
    assert (rejection["status"], rejection["reason_code"]) == ("rejected", "exceeds_agreed_amount")
    assert all(results[s.event.id][0]["status"] == "accepted" for s in accepted)
    assert calls.count("thirteen") == 1  # a refusal is an answer: not retried, not deferred
    # The refused command's write and event were undone (its savepoint), nobody else's.
    assert sorted(s for kind, s in done if kind == "contract") == sorted(
        x.subject for x in accepted
    )
    assert sorted(opened) == sorted(x.subject for x in accepted)
    assert sorted(s for kind, s in done if kind == "contact") == sorted(f"u-{n}" for n in range(12))


# --- 3. a crash mid-batch --------------------------------------------------------------------


async def test_a_process_killed_mid_batch_leaves_no_partial_effect_and_its_redelivery_is_absorbed(
    make_probe, publish, infra, database_url, topic_prefix, client, actor_keys, tmp_path
):
    keys = [f"k{n:02d}" for n in range(8)]
    sent = []
    for n in range(20):
        for key in keys:
            sent.append(await publish(contact(f"{key}-{n:02d}"), key=key))
        if n % 2 and n < 16:
            sent.append(await publish(open_contract(f"con-{n:02d}")))
    hang = next(s for s in sent if s.subject == "k05-15")
    contacts = {s.subject: s for s in sent if s.topic == CONTACTS}
    commands = {s.subject: s for s in sent if s.topic == COMMANDS}
    await publish.delivered()
    group = f"test-{uuid.uuid4().hex[:10]}"

    # One process handles the batch; its handler blocks on `hang`, in the middle of its key.
    # Every lane is one transaction: 168 records, keys of at most 20, 4 lanes dealt to the least
    # loaded: no lane holds more than 168 / 4 + 20 = 62 < 64 records, however the broker splits
    # them into batches. So the hanging lane's records before `hang` (and `hang`'s own write)
    # were all handled, uncommitted, when the process dies; the other lanes may have committed.
    child = await _spawn_probe(
        infra,
        database_url,
        topic_prefix,
        actor_keys,
        tmp_path / "probe.log",
        hang_on=hang.subject,
        settings={"kafka_group_id": group, "consumer_lanes": 4, "group_commit_size": 64},
    )
    db = Database(database_url)
    assert child.stdout is not None
    drain = None
    try:
        async with asyncio.timeout(PATIENCE):
            while HANGING.encode() not in (line := await child.stdout.readline()):
                assert line, f"the probe exited; see {tmp_path / 'probe.log'}"
        drain = asyncio.create_task(child.stdout.read())  # its logs must never block it
        async with positions(infra, group, topic_prefix) as at:
            committed = await at.committed()  # stable now: that batch never returns
        hang_tp = TopicPartition(on_wire(hang.topic, topic_prefix), hang.partition)
        assert committed[hang_tp] <= hang.offset  # a batch in flight has no offset committed
        redelivered = {
            s.event.id
            for s in sent
            if s.offset >= committed[TopicPartition(on_wire(s.topic, topic_prefix), s.partition)]
        }
        await eventually(lambda: _some_committed_among(db, contacts, redelivered), PATIENCE)
    finally:
        child.kill()  # SIGKILL: no shutdown, no rollback by the process, no offset commit
        await child.wait()
        if drain is not None:
            await drain

    # What the dead process left: whole transactions or nothing.
    done = await applied(db)
    claimed = await _claims(db)
    results_then = await results_by_command(db)
    opened_then = [data["contract_id"] for _, data in await staged(db, "ContractOpened.v1")]
    contacts_then = {s for kind, s in done if kind == "contact"}
    contracts_then = {s for kind, s in done if kind == "contract"}
    assert 0 < len(contacts_then) < len(contacts)  # it died mid-batch
    assert len(done) == len(set(done))
    assert contacts_then == {s for s, x in contacts.items() if x.event.id in claimed}
    assert contracts_then == {s for s, x in commands.items() if x.event.id in claimed}
    assert all(claimed[commands[s].event.id] for s in contracts_then)  # the answer is stored...
    assert set(results_then) == {commands[s].event.id for s in contracts_then}  # ...and staged
    assert sorted(opened_then) == sorted(contracts_then)
    ran_uncommitted = [
        s
        for s in sent
        if s.key == hang.key and s.offset <= hang.offset and s.event.id in redelivered
    ]
    assert ran_uncommitted  # handled in the open transaction when the process died...
    assert not {s.subject for s in ran_uncommitted} & contacts_then  # ...and rolled back
    committed_then = {x.event.id for s, x in contacts.items() if s in contacts_then} | {
        x.event.id for s, x in commands.items() if s in contracts_then
    }

    # The same group again: the batch is redelivered; what was committed is not applied twice.
    duplicates_before = sum(sample("inbox_duplicates_total", topic=t) for t in CONSUMED)
    service = make_probe(kafka_group_id=group)
    async with running(service), positions(infra, group, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        done = await applied(service.db)
        results = await results_by_command(service.db)
        result_rows = await staged(service.db, ".CommandResult.v1")
        opened = [data["contract_id"] for _, data in await staged(service.db, "ContractOpened.v1")]
        absorbed = sum(sample("inbox_duplicates_total", topic=t) for t in CONSUMED)
    await db.dispose()

    assert sorted(done) == sorted(
        [("contact", s) for s in contacts] + [("contract", s) for s in commands]
    )
    assert sorted(opened) == sorted(commands)
    assert absorbed - duplicates_before == len(committed_then & redelivered)
    for subject, command in commands.items():
        answers = results[command.event.id]
        assert all(answer == answers[0] for answer in answers)  # one answer, however often
        assert answers[0]["status"] == "accepted"
        # A command answered before the crash and redelivered was answered again (a replay: a
        # new CloudEvent, the same content); any other was answered once.
        replayed = command.event.id in committed_then & redelivered
        assert len(answers) == 1 + replayed, subject
    # On the wire, a result appears only as one of those outbox rows (a relay that died between
    # sending and marking sends a row again: the same CloudEvent id, which an inbox absorbs).
    staged_ids = {message_id for message_id, _ in result_rows}
    await client.watcher.wait_for(lambda: staged_ids <= _result_ids(client), PATIENCE)
    assert _result_ids(client) == staged_ids


async def _spawn_probe(
    infra: TestInfra,
    database_url: str,
    prefix: str,
    keys: KeyPair,
    log: Path,
    *,
    hang_on: str,
    settings: dict[str, Any],
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "PROBE_BOOTSTRAP": infra.bootstrap_servers,
        "PROBE_DATABASE_URL": database_url,
        "PROBE_TOPIC_PREFIX": prefix,
        "PROBE_PUBLIC_KEYS": json.dumps([keys.public_pem]),
        "PROBE_HANG_ON": hang_on,
        "PROBE_SETTINGS": json.dumps(settings),
    }
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shared.testing.probe_process",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )


async def _some_committed_among(db: Database, contacts: dict[str, Sent], ids: set[str]) -> bool:
    """Some contact that will be redelivered has its effect committed already."""
    done = {s for kind, s in await applied(db) if kind == "contact"}
    return any(contacts[s].event.id in ids for s in done)


async def _claims(db: Database) -> dict[str, bool]:
    """The inbox: message id -> whether a result is stored with it."""
    async with db.transaction() as session:
        rows = await session.execute(sa.select(inbox.c.message_id, inbox.c.result))
    return {row.message_id: row.result is not None for row in rows}


def _result_ids(client: SuiteClient) -> set[str]:
    return {e.id for e in client.watcher.events(COMMAND_RESULTS)}


# --- 4. per-key order under concurrency ------------------------------------------------------


async def test_each_keys_order_holds_across_concurrent_lanes(
    make_probe, publish, infra, topic_prefix, client
):
    keys = [f"key{n:02d}" for n in range(20)]
    for n in range(25):  # interleaved: every lane has many keys, every key many records
        for key in keys:
            await publish(contact(f"{key}-{n:02d}"), key=key)
    await publish.delivered()
    batches_before = batches()

    service = make_probe()
    assert service.runtime.max_lanes > 1
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        done = [s for kind, s in await applied(service.db) if kind == "contact"]
        assert in_batches_since(batches_before)

    assert len(done) == len(set(done)) == len(keys) * 25
    order: dict[str, list[str]] = defaultdict(list)
    for subject in done:
        order[subject.rsplit("-", 1)[0]].append(subject)
    assert order == {key: [f"{key}-{n:02d}" for n in range(25)] for key in keys}


# --- 5. duplicates inside one batch ----------------------------------------------------------


@pytest.mark.parametrize(
    "group_size", [64, 2], ids=["copies-in-one-transaction", "copies-in-several-transactions"]
)
async def test_duplicates_inside_one_batch_take_effect_once(
    make_probe, publish, infra, topic_prefix, client, group_size
):
    command = await publish(open_contract("twice"))
    event = await publish(contact("thrice"), key="dup")
    for n in range(5):
        await publish(contact(f"dup-{n}"), key="dup")
        await publish(open_contract(f"other-{n}"), key="twice")
        if n in (1, 3):
            await publish(contact("thrice"), key="dup", event=event.event)
        if n == 2:
            await publish(open_contract("twice"), key="twice", event=command.event)
    duplicates_before = sum(sample("inbox_duplicates_total", topic=t) for t in CONSUMED)
    await publish.delivered()
    batches_before = batches()

    calls: list[str] = []
    service = make_probe(calls=calls, group_commit_size=group_size)
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        done = await applied(service.db)
        results = await results_by_command(service.db)
        opened = [data["contract_id"] for _, data in await staged(service.db, "ContractOpened.v1")]
        absorbed = sum(sample("inbox_duplicates_total", topic=t) for t in CONSUMED)
        assert in_batches_since(batches_before)

    assert calls.count("twice") == calls.count("thrice") == 1
    assert Counter(done) == {
        ("contract", "twice"): 1,
        ("contact", "thrice"): 1,
        **{("contact", f"dup-{n}"): 1 for n in range(5)},
        **{("contract", f"other-{n}"): 1 for n in range(5)},
    }
    assert opened.count("twice") == 1
    first, second = results[command.event.id]
    assert first == second
    assert first["status"] == "accepted"
    assert absorbed - duplicates_before == 3  # the command's copy and the event's two


@pytest.mark.parametrize("copy_key", ["twice", "elsewhere"], ids=["same-lane", "any-lane"])
async def test_token_less_copies_in_a_batch_leave_the_genuine_command_to_be_applied(
    make_probe, publish, infra, topic_prefix, client, copy_key
):
    """Copies of a command without its token, before it in one batch, are refused (each one:
    a refusal is not remembered) and the genuine command under the same id is applied once."""
    genuine = client.envelope(open_contract("twice"))
    forged = genuine.model_copy(update={"actortoken": None})
    for _ in range(2):
        await publish(open_contract("twice"), key=copy_key, event=forged)
    await publish(open_contract("twice"), event=genuine)
    after = await publish(open_contract("after"), key="twice")
    await publish.delivered()
    batches_before = batches()

    calls: list[str] = []
    service = make_probe(calls=calls)
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        results = await results_by_command(service.db)
        done = await applied(service.db)
        claims = await _claims(service.db)
        assert in_batches_since(batches_before)

    answers = [(r["status"], r.get("reason_code")) for r in results[genuine.id]]
    if copy_key == "twice":  # one key, so in order: both copies refused, then the genuine one
        assert answers == [("rejected", "invalid_token")] * 2 + [("accepted", None)]
    else:  # another lane may take the id first: a copy then replays the genuine answer
        assert ("accepted", None) in answers and len(answers) == 3
        assert set(answers) <= {("rejected", "invalid_token"), ("accepted", None)}
    assert calls.count("twice") == 1
    assert Counter(done) == {("contract", "twice"): 1, ("contract", "after"): 1}
    assert claims[genuine.id] is True  # the genuine result is what the id remembers
    assert results[after.event.id][0]["status"] == "accepted"


# --- 7. a binary header ----------------------------------------------------------------------


async def test_a_record_with_a_binary_header_is_applied_not_lost(
    make_probe, publish, infra, topic_prefix, client
):
    plain = await publish(contact("u-before"), key="k")
    binary = await publish(
        contact("u-binary"),
        key="k",
        headers=[("content-type", CONTENT_TYPE.encode()), ("x-bin", b"\xff\xfe")],
    )
    after = await publish(contact("u-after"), key="other")
    command = await publish(
        open_contract("c-binary"),
        headers=[("x-trace", b"\x80\x81\x82"), ("x-empty", b"")],
    )

    await publish.delivered()
    dead_before = dead_letters()
    service = make_probe()
    async with running(service), positions(infra, service.settings.group_id, topic_prefix) as at:
        await eventually(lambda: settled(service.db, at, publish), PATIENCE)
        done = await applied(service.db)
        results = await results_by_command(service.db)
        assert since(dead_before) == {}  # nothing dead-lettered either

    assert sorted(done) == sorted(
        [("contact", s.subject) for s in (plain, binary, after)] + [("contract", "c-binary")]
    )
    assert [r["status"] for r in results[command.event.id]] == ["accepted"]
