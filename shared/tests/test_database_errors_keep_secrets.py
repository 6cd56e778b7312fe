"""A database error does not spread the values of its row (issue 12 point 9): neither its text
(SQLAlchemy's `[parameters: …]`), nor the `x-dlq-error` of a record whose handling raised it, nor
the runtime's log lines (PostgreSQL's DETAIL quotes the row: "Key (email)=(…) already exists",
"Failing row contains (…)"). Over the real database; the dead letters are caught in `send`."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from shared.auth import ActorTokenVerifier
from shared.clock import SystemClock
from shared.contract.directory import UserContactUpdated
from shared.db import Database, new_metadata
from shared.messaging.deadletter import Record
from shared.messaging.retry import RetryPolicy, failure_text
from shared.messaging.runtime import HandlerContext, Runtime
from shared.messaging.tables import metadata as messaging
from shared.testing.events import owned_event
from sqlalchemy.exc import DBAPIError, IntegrityError

pytestmark = pytest.mark.integration

SECRET = "whsec-do-not-leak-4f1c"
EMAIL = "leaky.person@example.org"
PHONE = "+989120000042"

contact_metadata = new_metadata()
contacts = sa.Table(
    "contacts",
    contact_metadata,
    sa.Column("user_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(128), nullable=False, unique=True),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("webhook_secret", sa.String(64)),
    sa.Column("pin", sa.String(4)),
    sa.Column("attempts", sa.Integer),
)


@pytest.fixture
async def db(database_url: str):
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(messaging.create_all)
        await conn.run_sync(contact_metadata.create_all)
    yield database
    await database.dispose()


async def _insert(db: Database, **row: object) -> None:
    async with db.transaction() as session:
        await session.execute(sa.insert(contacts).values(**row))


ROW = {"user_id": "u-1", "email": EMAIL, "phone": PHONE, "webhook_secret": SECRET}


async def test_an_integrity_error_does_not_show_its_parameters(db):
    await _insert(db, **ROW)
    with pytest.raises(IntegrityError) as duplicate:  # the same user_id: DETAIL names only it
        await _insert(db, **{**ROW, "email": "other@example.org"})
    text = str(duplicate.value)
    assert "uq_contacts_email" not in text and "pk_contacts" in text
    for value in (SECRET, PHONE, "other@example.org"):
        assert value not in text


async def test_a_data_error_does_not_show_its_parameters(db):
    with pytest.raises(DBAPIError) as too_long:  # asyncpg's StringDataRightTruncationError
        await _insert(db, **{**ROW, "pin": SECRET})
    assert SECRET not in str(too_long.value) and EMAIL not in str(too_long.value)


def _record(offset: int, **fields: object) -> Record:
    event = owned_event(UserContactUpdated(user_id="u-2", **fields))
    return Record("user-contacts", 0, offset, b"u-2", event.encode())


@pytest.mark.parametrize(
    ("fields", "secret_column", "expected"),
    [
        # unique violation: DETAIL "Key (email)=(…) already exists."
        (
            {"email": EMAIL, "phone": PHONE, "webhook_secret": SECRET},
            "webhook_secret",
            ["IntegrityError: ", "SQLSTATE 23505", "uq_contacts_email", "contacts"],
        ),
        # not-null violation: DETAIL "Failing row contains (u-2, …, null, whsec-…)."
        (
            {"email": "second@example.org", "webhook_secret": SECRET},
            "webhook_secret",
            ["IntegrityError: ", "SQLSTATE 23502", "phone", "contacts"],
        ),
        # asyncpg refuses the argument itself, quoting it: "invalid input for query argument $4:
        # 'whsec-…' (an integer is required …)"
        (
            {"email": "second@example.org", "phone": PHONE, "webhook_secret": SECRET},
            "attempts",
            ["DBAPIError: ", "DataError"],
        ),
    ],
)
async def test_a_dead_letter_for_a_database_error_carries_no_value_of_the_row(
    db, caplog, fields, secret_column, expected
):
    await _insert(db, **{**ROW, "email": EMAIL})
    sent: list[tuple[str, bytes, bytes, dict[str, str]]] = []

    async def send(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        sent.append((topic, key, value, headers))

    runtime = Runtime(
        service="notifications",
        context="notifications",
        db=db,
        send=send,
        clock=SystemClock(),
        verifier=ActorTokenVerifier([]),
        retry=RetryPolicy(initial_delay=0.001, max_delay=0.002, failure_attempts=2),
    )

    @runtime.on_event(UserContactUpdated)
    async def remember(message: UserContactUpdated, ctx: HandlerContext) -> None:
        row = {k: getattr(message, k) for k in ("user_id", "email", "phone")}
        row[secret_column] = message.webhook_secret
        await ctx.session.execute(sa.insert(contacts).values(**row))

    with caplog.at_level(logging.DEBUG):
        await runtime.receive_batch([_record(7, **fields)])

    [(topic, _, _, headers)] = sent
    assert topic == "user-contacts.dlq"
    error = headers["x-dlq-error"]
    assert headers["x-dlq-reason"] == "handler_failed"
    assert error.startswith(expected[0])
    for part in expected[1:]:  # the SQLSTATE, the constraint, column and table it concerns
        assert part in error, error
    logged = caplog.text + "".join(str(r.exc_text or "") for r in caplog.records)
    for said in ("deferring", "retrying", "dead-lettering"):
        assert f"{said} user-contacts@7: " in logged or f"{said} user-contacts@7 " in logged
    assert "NameError" not in logged
    for value in (SECRET, EMAIL, PHONE, "second@example.org"):
        assert value not in error, f"{value} in x-dlq-error: {error}"
        assert value not in logged, f"{value} logged"


def test_the_text_of_other_failures_is_unchanged():
    assert failure_text(ValueError("a bug")) == "ValueError: a bug"
