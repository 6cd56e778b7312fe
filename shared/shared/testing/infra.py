"""Where tests find a real broker and a real PostgreSQL.

`ESCROW_TEST_INFRA=embedded` (default): the embedded PostgreSQL and Tansu, started once per session.
`ESCROW_TEST_INFRA=containers`: Apache Kafka and PostgreSQL images through testcontainers (Docker).
`ESCROW_TEST_KAFKA_BOOTSTRAP` / `ESCROW_TEST_DATABASE_URL`: use existing servers instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.devstack.postgres import EmbeddedPostgres
from shared.devstack.processes import free_port
from shared.devstack.tansu import Tansu


@dataclass
class TestInfra:
    __test__ = False

    bootstrap_servers: str
    admin_database_url: str  # an SQLAlchemy asyncpg URL of a database we may CREATE DATABASE from
    postgres: EmbeddedPostgres | None = None
    tansu: Tansu | None = None

    async def new_database(self, prefix: str = "test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(_dsn(self.admin_database_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.admin_database_url.rsplit("/", 1)[0] + f"/{name}"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextmanager
def test_infra(workdir: Path) -> Iterator[TestInfra]:
    mode = os.environ.get("ESCROW_TEST_INFRA", "embedded")
    with ExitStack() as stack:
        if mode == "containers":
            yield stack.enter_context(_containers())
            return
        postgres = tansu = None
        database_url = os.environ.get("ESCROW_TEST_DATABASE_URL")
        if not database_url:
            postgres = EmbeddedPostgres(workdir / "postgres", port=free_port(), fast=True)
            postgres.start()
            stack.callback(postgres.stop)
            database_url = postgres.url()
        bootstrap = os.environ.get("ESCROW_TEST_KAFKA_BOOTSTRAP")
        if not bootstrap:
            tansu = Tansu(port=free_port(), log=workdir / "tansu.log")
            tansu.start()
            stack.callback(tansu.stop)
            bootstrap = tansu.bootstrap_servers
        yield TestInfra(bootstrap, database_url, postgres, tansu)


@contextmanager
def _containers() -> Iterator[TestInfra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:17", driver="asyncpg") as pg, KafkaContainer() as kafka:
        yield TestInfra(kafka.get_bootstrap_server(), pg.get_connection_url())
