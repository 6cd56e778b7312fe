"""Database engine, transactions and migrations: one PostgreSQL database per service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.sealing import SESSION_INFO_KEY, KeyRing

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING)


class Database:
    """An async engine and its sessions; `transaction()` is the unit of work."""

    def __init__(self, url: str, *, pool_size: int = 5, sealing: KeyRing | None = None) -> None:
        self.url = url
        # No pre-ping: it costs a round trip (`BEGIN; ROLLBACK`) on every checkout. A connection
        # that died with its server fails its first statement instead; SQLAlchemy then discards
        # the whole pool and the runtime retries the work as transient, on fresh connections.
        # hide_parameters: an error's text (logged, put in a dead letter's `x-dlq-error`) would
        # otherwise list the statement's values: webhook secrets, e-mail addresses, IBANs.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, pool_pre_ping=False, pool_recycle=1800, hide_parameters=True
        )
        # a repository that seals values at rest finds the ring in its session (`ring_of`)
        self.sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            info={SESSION_INFO_KEY: sealing} if sealing is not None else None,
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(package: str, url: str) -> Config:
    """Alembic configuration of one service: its scripts live in `<package>/migrations`."""
    config = Config()
    config.set_main_option("script_location", str(files(package) / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(package: str, url: str, revision: str = "head") -> None:
    """Upgrade a service's database (synchronous: run it in its own thread inside an event loop)."""
    command.upgrade(alembic_config(package, url), revision)
