"""Pytest plugin: session-wide real broker and PostgreSQL, and per-test isolation.

Each test gets its own database, its own topic prefix (so topics are its own) and its own
consumer group ids, so tests never see each other's messages.
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.auth import ensure_dev_keypair
from shared.client import SuiteClient
from shared.contract.registry import all_topics, topics_with_dlq
from shared.messaging.kafka import ensure_topics
from shared.testing.infra import TestInfra, test_infra

warnings.filterwarnings("ignore", module="platformdirs")


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestInfra]:
    with test_infra(tmp_path_factory.mktemp("infra")) as found:
        yield found


@pytest.fixture(scope="session")
def actor_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """An Ed25519 key pair, as `make run` creates for development."""
    private, public = ensure_dev_keypair(tmp_path_factory.mktemp("keys"))
    return KeyPair(private.read_text(), public.read_text())


@pytest.fixture(scope="session")
def rsa_keys() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode(), public.decode())


@pytest.fixture
async def database_url(infra: TestInfra) -> str:
    """A fresh, empty database for this test."""
    return await infra.new_database()


@pytest.fixture
async def topic_prefix(infra: TestInfra) -> str:
    """A fresh topic prefix with every topic of the suite (and its DLQ) created under it."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    await ensure_topics(infra.bootstrap_servers, all_topics(), prefix=prefix)
    return prefix


@pytest.fixture
async def client(
    infra: TestInfra, topic_prefix: str, actor_keys: KeyPair
) -> AsyncIterator[SuiteClient]:
    """A client that signs with the test key and watches every topic of this test."""
    async with SuiteClient(
        infra.bootstrap_servers,
        prefix=topic_prefix,
        private_key_pem=actor_keys.private_pem,
        source="tests",
        watch=topics_with_dlq(all_topics()),
    ) as suite:
        yield suite


Eventually = Callable[[Callable[[], Awaitable[bool]], float], Awaitable[None]]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll `check` until it holds (for state that is not announced by a message)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@pytest.fixture
def tmp_var(tmp_path: Path) -> Path:
    return tmp_path / "var"
