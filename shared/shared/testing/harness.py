"""Run a service in-process against the test infrastructure, with test-friendly settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import MetaData

from shared.db import Database, migrate
from shared.service import Service
from shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)

#: a lone consumer that restarts must not wait the default ~18 s for its old session to expire
FAST_KAFKA = {
    "kafka_session_timeout_ms": 3000,
    "kafka_heartbeat_interval_ms": 500,
    "kafka_fetch_max_wait_ms": 20,
    "outbox_poll_interval_ms": 50,
    "retry_initial_delay_ms": 50,
    "retry_max_delay_ms": 500,
    "graceful_timeout_s": 10.0,
}


def settings_for_test(cls: type[S], **values: Any) -> S:
    defaults: dict[str, Any] = {
        "environment": "test",
        "kafka_group_id": f"test-{uuid.uuid4().hex[:10]}",
        **FAST_KAFKA,
    }
    return cls(**{**defaults, **values})


async def migrated(package: str, url: str) -> str:
    await asyncio.to_thread(migrate, package, url)
    return url


async def schema_drift(db: Database, metadata: MetaData) -> list[Any]:
    """What a service's migrated database differs in from its tables and the messaging tables
    (alembic's autogenerate comparison): empty when the migrations build what the code uses."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shared.messaging.tables import metadata as messaging

    def differences(connection: Any) -> list[Any]:
        # alembic takes a list of MetaData too (its documentation); its annotation says one
        both: Any = [metadata, messaging]
        return list(compare_metadata(MigrationContext.configure(connection), both))

    async with db.engine.connect() as connection:
        return await connection.run_sync(differences)


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[Service]:
    """Start the service's FastStream app (consumer, relay, loops); stop it gracefully after."""
    app = service.app()
    await app.start()
    try:
        yield service
    finally:
        await app.stop()


async def lock_waits(db: Database) -> int:
    """Sessions of `db`'s database waiting for a lock another one holds (how a test sees that a
    transaction it started is blocked, without a timer)."""
    async with db.transaction() as session:
        waiting = await session.scalar(
            sa.text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()"
            )
        )
    return int(waiting or 0)


async def held_at_load(
    monkeypatch: Any,
    repository: type,
    start: Callable[[], Coroutine[Any, Any, Any]],
    patience: float,
) -> tuple[asyncio.Task[Any], asyncio.Event]:
    """Start `start()` as a task and hold it where it first loads an aggregate through
    `repository.get` (before it takes the row's lock) until the returned event is set: how a
    test puts a command between a background round's claim and its lock."""
    go, loaded = asyncio.Event(), asyncio.Event()
    real_get = repository.get  # type: ignore[attr-defined]
    task: asyncio.Task[Any] | None = None

    async def get(self: Any, key: str, *, lock: bool = True) -> Any:
        if asyncio.current_task() is task and not go.is_set():
            loaded.set()
            await go.wait()
        return await real_get(self, key, lock=lock)

    monkeypatch.setattr(repository, "get", get)
    task = asyncio.create_task(start())
    async with asyncio.timeout(patience):
        await loaded.wait()
    return task, go
