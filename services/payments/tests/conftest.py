"""Fixtures of the payments tests: a sandbox gateway per test and the payments service beside it.

After every test that ran the service, the ledger's invariants are asserted (every currency sums
to zero, every transaction balances, every running balance is the sum of its entries, no account
but gateway clearing is negative).
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from payments.testing.harness import (
    PaymentsHarness,
    SandboxHandle,
    running_payments,
    sandbox_gateway,
)
from shared.client import SuiteClient
from shared.db import Database
from shared.sealing import DEV_SEALING_KEYS, KeyRing
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated
from shared.testing.infra import TestInfra

Starter = Callable[..., AbstractAsyncContextManager[PaymentsHarness]]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxHandle]:
    async with sandbox_gateway() as handle:
        yield handle


@pytest.fixture
def start_payments(
    infra: TestInfra,
    database_url: str,
    topic_prefix: str,
    actor_keys: KeyPair,
    client: SuiteClient,
    sandbox: SandboxHandle,
) -> Starter:
    """Start (or restart) the payments service of this test, with settings overrides."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[PaymentsHarness]:
        return running_payments(
            bootstrap_servers=infra.bootstrap_servers,
            database_url=database_url,
            topic_prefix=topic_prefix,
            public_key=actor_keys.public_pem,
            client=client,
            sandbox=sandbox,
            **overrides,
        )

    return start


@pytest.fixture
async def payments(start_payments: Starter) -> AsyncIterator[PaymentsHarness]:
    async with start_payments() as harness:
        yield harness
        assert await harness.ledger_problems() == []


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The payments database of this test, migrated, without the service."""
    database = Database(
        await migrated("payments", database_url), sealing=KeyRing.parse(DEV_SEALING_KEYS)
    )
    yield database
    await database.dispose()
