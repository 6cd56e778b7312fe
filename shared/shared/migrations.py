"""What every service's Alembic `env.py` does: run its migrations over asyncpg."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run_env(target_metadata: MetaData | list[MetaData]) -> None:
    """Entry point for `env.py`: offline (SQL script) or online (against the database)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, target_metadata))


def _apply(connection: Connection, target_metadata: MetaData | list[MetaData]) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str, target_metadata: MetaData | list[MetaData]) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_apply, target_metadata)
    await engine.dispose()
