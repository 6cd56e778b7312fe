"""Actor tokens, production settings and the transient-error classification."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from shared.auth import ActorTokenVerifier, TokenRefused, ensure_dev_keypair, sign_actor_token
from shared.contract.base import Actor, Role
from shared.messaging.retry import PermanentFailure, RetryPolicy, is_transient, retrying
from shared.settings import ServiceSettings
from sqlalchemy.exc import IntegrityError, OperationalError

ALICE = Actor(user_id="alice", role=Role.EMPLOYER)


@pytest.fixture
def dev_keys(tmp_path):
    private, public = ensure_dev_keypair(tmp_path)
    return private.read_text(), public.read_text()


def test_a_valid_token_for_the_actor_passes(dev_keys):
    private, public = dev_keys
    ActorTokenVerifier([public]).verify(sign_actor_token(private, ALICE), ALICE)


def test_the_dev_key_pair_is_made_once(tmp_path):
    first = [p.read_text() for p in ensure_dev_keypair(tmp_path)]
    assert [p.read_text() for p in ensure_dev_keypair(tmp_path)] == first


@pytest.mark.parametrize(
    ("token_for", "issued_ago", "message"),
    [
        (Actor(user_id="bob", role=Role.EMPLOYER), timedelta(0), "another actor"),
        (Actor(user_id="alice", role=Role.CONTRACTOR), timedelta(0), "another actor"),
        (ALICE, timedelta(hours=2), "expired"),
    ],
)
def test_tokens_for_someone_else_or_expired_are_refused(dev_keys, token_for, issued_ago, message):
    private, public = dev_keys
    token = sign_actor_token(private, token_for, now=datetime.now(UTC) - issued_ago)
    with pytest.raises(TokenRefused, match=message):
        ActorTokenVerifier([public]).verify(token, ALICE)


def test_a_token_without_expiry_or_with_alg_none_is_refused(dev_keys):
    import jwt

    private, public = dev_keys
    unsigned = jwt.encode(
        {"sub": "alice", "role": "employer", "exp": 9999999999}, None, algorithm="none"
    )
    no_exp = jwt.encode({"sub": "alice", "role": "employer"}, private, algorithm="EdDSA")
    for token in (unsigned, no_exp, None, ""):
        with pytest.raises(TokenRefused):
            ActorTokenVerifier([public]).verify(token, ALICE)


def test_no_configured_key_refuses_everything(dev_keys):
    with pytest.raises(TokenRefused, match="no actor-token public key"):
        ActorTokenVerifier([]).verify(sign_actor_token(dev_keys[0], ALICE), ALICE)


def test_production_refuses_unsafe_settings(dev_keys, tmp_path):
    with pytest.raises(ValueError) as refused:
        ServiceSettings(environment="production")
    text = str(refused.value)
    assert (
        "ACTOR_TOKEN_PUBLIC_KEY" in text
        and "KAFKA_SECURITY_PROTOCOL" in text
        and "DATABASE_URL" in text
    )
    with pytest.raises(ValueError, match="development actor-token key"):
        ServiceSettings(environment="production", actor_token_public_key=dev_keys[1])
    fine = ServiceSettings(
        environment="production",
        actor_token_public_key="-----BEGIN PUBLIC KEY-----\nreal\n-----END PUBLIC KEY-----",
        kafka_security_protocol="SASL_SSL",
        database_url="postgresql+asyncpg://escrow@db.internal:5432/escrow",
    )
    assert fine.group_id == "service"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TOPIC_PREFIX", "karoman.")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "true")
    settings = ServiceSettings()
    assert settings.topic_prefix == "karoman."
    assert settings.kafka_enable_idempotence is True


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(),
        KafkaConnectionError(),
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        asyncpg.exceptions.ConnectionDoesNotExistError(),
        asyncpg.exceptions.SerializationError(),
    ],
)
def test_unavailable_infrastructure_is_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc", [ValueError("bug"), KeyError("x"), IntegrityError("INSERT", {}, Exception("dup"))]
)
def test_bugs_and_constraint_violations_are_not_transient(exc):
    assert not is_transient(exc)


async def test_transient_errors_are_retried_until_success_and_others_give_up():
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 5:
            raise ConnectionRefusedError()
        return "done"

    policy = RetryPolicy(initial_delay=0.001, max_delay=0.002, failure_attempts=2)
    assert await retrying(flaky, policy, on_retry=lambda *_: None) == "done"
    assert len(attempts) == 5

    async def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(PermanentFailure, match="a bug"):
        await retrying(broken, policy, on_retry=lambda *_: None)


async def test_a_stopping_service_stops_retrying_and_leaves_the_message_uncommitted():
    stopping = asyncio.Event()
    stopping.set()

    async def down() -> None:
        raise ConnectionRefusedError()

    with pytest.raises(ConnectionRefusedError):
        await retrying(down, RetryPolicy(), on_retry=lambda *_: None, stopping=stopping)
