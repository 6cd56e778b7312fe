"""Which failures are transient, and the bounded backoff that retries them.

Transient (database or broker unavailable, serialization conflicts) are retried for as long as it
takes, with exponential backoff capped at `max_delay`: the message is not committed meanwhile.
Anything else is retried a few times, then reported as permanent so it can be dead-lettered.
A message the broker can never take (too large, an invalid topic) is never transient: waiting
does not make it smaller (`is_unsendable`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from aiokafka.errors import (
    CorruptRecordException,
    InvalidMessageError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, StatementError

T = TypeVar("T")

# connection exceptions (class 08), serialization failure, deadlock, admin shutdown, cannot connect
_TRANSIENT_SQLSTATES = {"40001", "40P01", "57P01", "57P02", "57P03", "53300"}
_TRANSIENT_TYPES = (
    OSError,
    TimeoutError,
    ConnectionError,
    KafkaError,
    OperationalError,
    InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


#: what the broker (or the producer, before sending) answers about the message itself
_UNSENDABLE = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
    CorruptRecordException,
    InvalidMessageError,
)


#: errors whose text may quote the values of a row or a statement's arguments
_DATABASE_ERRORS = (StatementError, asyncpg.PostgresError, asyncpg.InterfaceError)
#: what a database error concerns, by name (never by value), and how the text calls it
_CONCERNS = (
    ("constraint_name", "constraint"),
    ("table_name", "table"),
    ("column_name", "column"),
    ("data_type_name", "type"),
)


class PermanentFailure(Exception):
    """A handler kept failing for a reason that waiting will not fix."""


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 20:
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def from_database(exc: BaseException) -> bool:
    """Whether `exc` is (or was caused by) a database error, whose text quotes values."""
    return any(isinstance(seen, _DATABASE_ERRORS) for seen in _chain(exc))


def failure_text(exc: BaseException) -> str:
    """What an operator reads of a failure (`x-dlq-error`, the log): its type and message, except
    for a database error. PostgreSQL's message and DETAIL quote the row ("Key (email)=(…) already
    exists", "Failing row contains (…)"), asyncpg's quote a refused argument and SQLAlchemy's add
    the statement: of those only the kind, the SQLSTATE and the names of what it concerns stay."""
    found = [seen for seen in _chain(exc) if isinstance(seen, _DATABASE_ERRORS)]
    if not found:
        return f"{type(exc).__name__}: {exc}"
    driver = found[-1]  # the driver's own error, under SQLAlchemy's
    if isinstance(driver, StatementError) and driver.orig is not None:
        driver = driver.orig
    said = [
        f"{label} {getattr(driver, name)}"
        for name, label in _CONCERNS
        if getattr(driver, name, None)
    ]
    state = _sqlstate(driver) or _sqlstate(getattr(found[0], "orig", None))
    if state:
        said.insert(0, f"SQLSTATE {state}")
    text = f"{type(exc).__name__}: {type(driver).__name__}"
    return f"{text} ({', '.join(said)})" if said else text


def _sqlstate(error: BaseException | None) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) and state else None


def is_unsendable(exc: BaseException) -> bool:
    """The broker can never take this message, however long one waits."""
    return any(isinstance(seen, _UNSENDABLE) for seen in _chain(exc))


def is_transient(exc: BaseException) -> bool:
    if is_unsendable(exc):
        return False
    for seen in _chain(exc):
        if isinstance(seen, _TRANSIENT_TYPES):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        state = getattr(seen, "sqlstate", None) or getattr(
            getattr(seen, "orig", None), "sqlstate", None
        )
        if isinstance(state, str) and (state in _TRANSIENT_SQLSTATES or state.startswith("08")):
            return True
    return False


@dataclass(frozen=True)
class RetryPolicy:
    initial_delay: float = 0.1
    max_delay: float = 5.0
    failure_attempts: int = 3


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException, bool], None],
    stopping: asyncio.Event | None = None,
) -> T:
    """Run `attempt` until it succeeds; raise `PermanentFailure` after enough non-transient errors.

    When `stopping` is set during a transient outage, the last error is raised instead of
    waiting on: the message stays uncommitted and is redelivered after the restart.
    """
    delay = policy.initial_delay
    failures = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            transient = is_transient(exc)
            if not transient:
                failures += 1
                if failures >= policy.failure_attempts:
                    raise PermanentFailure(failure_text(exc)) from exc
            if stopping is not None and stopping.is_set():
                raise
            on_retry(exc, transient)
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_delay)
