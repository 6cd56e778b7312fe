"""Init container of every Deployment: wait until the service's database is at its head revision.

Migrations run once per release in the `<service>-migrate` Job (`python -m <service> migrate`),
never on a service's start. A pod that started before that Job finished would handle messages
against an old schema and could dead-letter them, so it waits here until the schema is current.

    python /app/bin/wait_for_migrations.py <service package> [timeout seconds, default 900]

Reads DATABASE_URL like the service. Exits 0 when current, 1 on timeout (the pod then restarts it).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from shared.db import alembic_config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

POLL_S = 5.0


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def current_heads(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def main(package: str, timeout_s: float) -> int:
    url = os.environ["DATABASE_URL"]
    wanted = set(ScriptDirectory.from_config(alembic_config(package, url)).get_heads())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            current = asyncio.run(current_heads(url))
        except Exception as error:  # the database may still be starting
            current, reason = None, f"database not reachable: {type(error).__name__}"
        else:
            reason = f"schema at {sorted(current) or 'nothing'}, want {sorted(wanted)}"
        if current == wanted:
            print(f"{package}: schema is current ({sorted(wanted) or 'no migrations'})", flush=True)
            return 0
        if time.monotonic() > deadline:
            print(f"{package}: gave up waiting for migrations: {reason}", file=sys.stderr)
            return 1
        print(f"{package}: waiting for the migrate Job: {reason}", flush=True)
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 900.0))
