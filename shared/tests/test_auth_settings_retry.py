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
from shared.service import build_service
from shared.settings import ServiceSettings
from shared.testing.harness import settings_for_test
from shared.testing.production import production_settings
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
        and "ACTOR_TOKEN_AUDIENCE" in text
        and "ACTOR_TOKEN_ISSUER" in text
        and "KAFKA_SECURITY_PROTOCOL" in text
        and "DATABASE_URL" in text
    )
    with pytest.raises(ValueError, match="development actor-token key"):
        ServiceSettings(environment="production", actor_token_public_key=dev_keys[1])
    fine = ServiceSettings(**SAFE_PRODUCTION)
    assert fine.group_id == "service"


SAFE_PRODUCTION = production_settings(
    without=("sealing_keys",),
    database_url="postgresql+asyncpg://escrow@db.internal:5432/escrow",
)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"actor_token_audience": None}, "ACTOR_TOKEN_AUDIENCE is required"),
        ({"actor_token_audience": "  "}, "ACTOR_TOKEN_AUDIENCE is required"),
        ({"actor_token_issuer": None}, "ACTOR_TOKEN_ISSUER is required"),
        ({"actor_token_issuer": ""}, "ACTOR_TOKEN_ISSUER is required"),
        ({"actor_token_leeway_s": 61}, "ACTOR_TOKEN_LEEWAY_S must be at most 60"),
    ],
)
def test_production_requires_audience_and_issuer_and_a_short_leeway(change, named):
    with pytest.raises(ValueError, match=named):
        ServiceSettings(**{**SAFE_PRODUCTION, **change})
    assert ServiceSettings(**{**SAFE_PRODUCTION, "actor_token_leeway_s": 60})


def test_token_bounds_come_from_the_environment_and_are_bounded(monkeypatch):
    assert ServiceSettings().actor_token_max_lifetime_s == 900
    monkeypatch.setenv("ACTOR_TOKEN_MAX_LIFETIME_S", "300")
    monkeypatch.setenv("ACTOR_TOKEN_AUDIENCE", "")
    settings = ServiceSettings()
    assert (settings.actor_token_max_lifetime_s, settings.actor_token_audience) == (300, None)
    for too_long in ("0", str(10 * 365 * 24 * 3600)):
        monkeypatch.setenv("ACTOR_TOKEN_MAX_LIFETIME_S", too_long)
        with pytest.raises(ValueError, match="actor_token_max_lifetime_s"):
            ServiceSettings()
    monkeypatch.setenv("ACTOR_TOKEN_MAX_LIFETIME_S", "300")
    monkeypatch.setenv("ACTOR_TOKEN_LEEWAY_S", "-1")
    with pytest.raises(ValueError, match="actor_token_leeway_s"):
        ServiceSettings()


def test_the_service_verifies_with_its_settings_bounds():
    service = build_service(
        settings_for_test(
            ServiceSettings,
            actor_token_audience="escrow-suite",
            actor_token_issuer="https://id.marketplace.example",
            actor_token_leeway_s=5,
            actor_token_max_lifetime_s=120,
        ),
        package="shared",
        context="probe",
    )
    verifier = service.runtime.verifier
    assert (verifier.audience, verifier.issuer, verifier.leeway_s, verifier.max_lifetime_s) == (
        "escrow-suite",
        "https://id.marketplace.example",
        5,
        120,
    )


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
