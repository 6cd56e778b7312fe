"""Noting and delivering against the real database, with fake channels and a manual clock:
the unique (event, recipient, channel), the retry schedule, waiting for contact details."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.repository import Repository
from notifications.adapters.tables import contacts
from notifications.domain.contacts import Contact
from notifications.domain.delivery import RetrySchedule
from notifications.domain.facts import Presentation
from notifications.service_layer.delivering import Deliverer
from notifications.service_layer.notices import notify, remember_contact
from notifications.views import delivery_log
from shared.clock import ManualClock
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import CloudEvent, new_event
from shared.contract.escrow import EscrowFunded
from shared.db import Database
from shared.messaging.runtime import HandlerContext
from shared.sealing import DEV_SEALING_KEYS, PREFIX, KeyRing, SealingError
from shared.testing.harness import migrated, schema_drift

WAIT = timedelta(hours=1)
SCHEDULE = RetrySchedule(3, initial=timedelta(seconds=10), ceiling=timedelta(minutes=1))


@dataclass
class FakeChannel:
    failures: list[ChannelError] = field(default_factory=list)
    sent: list[Letter] = field(default_factory=list)

    async def send(self, letter: Letter) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(letter)


@pytest.fixture
async def db(database_url):
    database = Database(
        await migrated("notifications", database_url), sealing=KeyRing.parse(DEV_SEALING_KEYS)
    )
    yield database
    await database.dispose()


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def email():
    return FakeChannel()


@pytest.fixture
def deliverer(db, clock, email):
    return Deliverer(
        db, {"email": email}, clock, SCHEDULE, Presentation(), lease=timedelta(minutes=2)
    )


async def consume(db: Database, clock, cause: CloudEvent, handle) -> None:
    """What the runtime does around a handler: one transaction, the envelope as the cause."""
    async with db.transaction() as session:
        await handle(HandlerContext(session, cause, clock, "notifications"))


async def tell(db, clock, envelope: CloudEvent, event) -> None:
    await consume(db, clock, envelope, lambda ctx: notify(event, ctx, undeliverable_after=WAIT))


async def contact(db, clock, user_id: str, **details) -> None:
    update = UserContactUpdated(user_id=user_id, **details)
    envelope = new_event(update, source="marketplace", now=clock.now())
    await consume(
        db, clock, envelope, lambda ctx: remember_contact(update, ctx, default_language="fa")
    )


async def log(db: Database, **filters):
    async with db.transaction() as session:
        return await delivery_log(session, **filters)


async def test_the_same_event_noted_twice_still_makes_one_delivery_per_channel(
    db, clock, example_events
):
    await contact(db, clock, "emp-1", email="emp@example.org")
    await contact(db, clock, "con-1", email="con@example.org", webhook_url="http://x/h")
    event = example_events[EscrowFunded]
    envelope = new_event(event, source="escrow")
    # Twice, in two transactions, as if the inbox had let a redelivery through.
    await tell(db, clock, envelope, event)
    await tell(db, clock, envelope, event)
    found = sorted((d["user_id"], d["channel"], d["status"]) for d in await log(db))
    assert found == [("con-1", "email", "pending"), ("emp-1", "email", "pending")]


async def test_a_failing_channel_is_retried_on_its_schedule_then_failed(
    db, clock, email, deliverer, example_events
):
    await contact(db, clock, "emp-1", email="emp@example.org", channels={"escrow": ["email"]})
    email.failures = [ChannelError(f"SMTP 451: busy {n}") for n in range(3)]
    event = example_events[EscrowFunded]
    await tell(db, clock, new_event(event, source="escrow"), event)

    async def attempts() -> int:
        [delivery] = await log(db, user_id="emp-1")
        return int(delivery["attempts"])

    start = clock.now()
    # Each round answers when the loop should look next: the retry's due time.
    assert await deliverer.run_once() == start + timedelta(seconds=10)  # attempt 1 fails
    clock.advance(timedelta(seconds=9))
    assert await deliverer.run_once() == start + timedelta(seconds=10)
    assert await attempts() == 1
    clock.advance(timedelta(seconds=1))
    assert await deliverer.run_once() == start + timedelta(seconds=30)  # attempt 2 fails
    clock.advance(timedelta(seconds=19))
    assert await deliverer.run_once() == start + timedelta(seconds=30)
    assert await attempts() == 2
    clock.advance(timedelta(seconds=1))
    await deliverer.run_once()  # attempt 3 fails: the last one
    clock.advance(timedelta(minutes=30))  # still within the contractor's wait for details
    await deliverer.run_once()
    assert await attempts() == 3

    [delivery] = await log(db, user_id="emp-1")
    assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
    assert delivery["last_error"] == "SMTP 451: busy 2"
    assert email.sent == []


async def test_a_delivery_sent_after_a_retry_is_recorded_sent_once(
    db, clock, email, deliverer, example_events
):
    await contact(db, clock, "con-1", email="con@example.org", language="en", display_name="Ali")
    email.failures = [ChannelError("SMTP 421: closing")]
    event = example_events[EscrowFunded]
    await tell(db, clock, new_event(event, source="escrow"), event)
    await deliverer.run_once()
    clock.advance(timedelta(seconds=10))
    await deliverer.run_once()
    [letter] = email.sent
    assert letter.address == "con@example.org" and letter.rendered.language == "en"
    assert letter.rendered.text.startswith("Hello Ali,")
    sent = {d["user_id"]: d for d in await log(db)}["con-1"]
    assert (sent["status"], sent["attempts"], sent["sent_at"] is not None) == ("sent", 2, True)


async def test_a_message_waits_for_contact_details_then_is_undeliverable(
    db, clock, email, deliverer, example_events
):
    event = example_events[EscrowFunded]
    await tell(db, clock, new_event(event, source="escrow"), event)
    assert await log(db) == []  # nobody's details are known: nothing to send yet
    await contact(db, clock, "con-1", email="con@example.org")
    assert [d["user_id"] for d in await log(db)] == ["con-1"]

    clock.advance(WAIT)
    await deliverer.run_once()
    late = {d["user_id"]: d for d in await log(db)}["emp-1"]
    assert (late["channel"], late["status"], late["attempts"]) == ("none", "undeliverable", 0)
    assert "no contact details" in late["last_error"]
    await contact(db, clock, "emp-1", email="emp@example.org")  # too late: stays undeliverable
    assert len(await log(db, user_id="emp-1")) == 1
    assert [letter.user_id for letter in email.sent] == ["con-1"]


async def test_a_wanted_channel_without_an_address_is_undeliverable_at_once(
    db, clock, example_events
):
    await contact(db, clock, "emp-1", email="emp@example.org", channels={"*": ["email", "sms"]})
    event = example_events[EscrowFunded]
    await tell(db, clock, new_event(event, source="escrow"), event)
    found = {d["channel"]: d for d in await log(db, user_id="emp-1")}
    assert found["email"]["status"] == "pending"
    assert (found["sms"]["status"], found["sms"]["last_error"]) == (
        "undeliverable",
        "no sms address",
    )


async def test_an_older_contact_record_never_replaces_a_newer_one(db, clock):
    newer = new_event(
        UserContactUpdated(user_id="u-1", email="new@example.org"),
        source="marketplace",
        now=clock.now(),
    )
    older = new_event(
        UserContactUpdated(user_id="u-1", email="old@example.org"),
        source="marketplace",
        now=clock.now() - timedelta(minutes=1),
    )
    for published in (newer, older):
        # The marketplace left the language out, which the model would default to Persian.
        envelope = published.model_copy(
            update={"data": {k: v for k, v in published.data.items() if k != "language"}}
        )
        update = UserContactUpdated.model_validate(envelope.data)
        await consume(
            db,
            clock,
            envelope,
            lambda ctx, u=update: remember_contact(u, ctx, default_language="en"),
        )
    async with db.transaction() as session:
        kept = await Repository(session).contact("u-1")
    assert kept is not None and kept.email == "new@example.org"
    assert kept.language == "en"  # the record named no language: the deployment's default


async def test_a_webhook_secret_is_sealed_in_the_database_and_bound_to_its_user(db, clock):
    secret = "whsec-db-password-hunter2"
    for user_id in ("u-1", "u-2"):
        await contact(
            db, clock, user_id, webhook_url="https://hooks.example.org/a", webhook_secret=secret
        )
    async with db.transaction() as session:
        stored = dict(
            (await session.execute(sa.select(contacts.c.user_id, contacts.c.webhook_secret))).all()
        )
        assert all(v.startswith(PREFIX) and secret not in v for v in stored.values())
        assert (await Repository(session).contact("u-1")).webhook_secret == secret
        # u-2's sealed secret written over u-1's does not open as u-1's
        await session.execute(
            sa.update(contacts)
            .where(contacts.c.user_id == "u-1")
            .values(webhook_secret=stored["u-2"])
        )
        with pytest.raises(SealingError, match="does not open"):
            await Repository(session).contact("u-1")


async def test_the_migrations_build_exactly_the_tables_the_code_uses(db):
    from notifications.adapters.tables import metadata

    assert await schema_drift(db, metadata) == []


async def test_a_contact_saved_concurrently_with_the_event_is_still_found(
    db, clock, email, deliverer, example_events
):
    event = example_events[EscrowFunded]
    await tell(db, clock, new_event(event, source="escrow"), event)
    # Saved the way a replica racing the event's transaction would: without seeing the notice.
    async with db.transaction() as session:
        saved = Contact(user_id="emp-1", email="emp@example.org")
        assert await Repository(session).save_contact(saved, clock.now())
    await deliverer.run_once()  # the notice dispatched, then its delivery sent
    assert [letter.address for letter in email.sent] == ["emp@example.org"]
