"""The verifier remembers tokens it verified, without ever accepting what it would refuse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shared.auth import ActorTokenVerifier, TokenRefused, ensure_dev_keypair, sign_actor_token
from shared.contract.base import Actor, Role

from shared import auth

ALICE = Actor(user_id="alice", role=Role.EMPLOYER)
BOB = Actor(user_id="bob", role=Role.EMPLOYER)


@pytest.fixture
def keys(tmp_path):
    private, public = ensure_dev_keypair(tmp_path)
    return private.read_text(), public.read_text()


def test_a_remembered_token_is_checked_against_each_command_s_actor(keys):
    private, public = keys
    verifier = ActorTokenVerifier([public])
    token = sign_actor_token(private, ALICE)
    verifier.verify(token, ALICE)
    verifier.verify(token, ALICE)  # the second time from memory
    with pytest.raises(TokenRefused, match="another actor"):
        verifier.verify(token, BOB)


def test_a_remembered_token_that_has_since_expired_is_refused(keys, monkeypatch):
    private, public = keys
    verifier = ActorTokenVerifier([public], leeway_s=0)
    token = sign_actor_token(private, ALICE, ttl=timedelta(seconds=60))
    verifier.verify(token, ALICE)
    later = datetime.now(UTC).timestamp() + 120
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(TokenRefused, match="expired"):
        verifier.verify(token, ALICE)


def test_a_refused_token_is_not_remembered_as_valid(keys, tmp_path):
    _, public = keys
    other_private = ensure_dev_keypair(tmp_path / "other")[0].read_text()
    verifier = ActorTokenVerifier([public])
    forged = sign_actor_token(other_private, ALICE)
    for _ in range(2):
        with pytest.raises(TokenRefused, match="not valid"):
            verifier.verify(forged, ALICE)


def test_memory_is_bounded(keys, monkeypatch):
    private, public = keys
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    verifier = ActorTokenVerifier([public])
    for user in range(5):
        actor = Actor(user_id=f"u{user}", role=Role.EMPLOYER)
        verifier.verify(sign_actor_token(private, actor), actor)
    assert len(verifier._verified) == 3


def test_an_oversized_token_is_refused_before_any_parsing(keys):
    _, public = keys
    with pytest.raises(TokenRefused, match="too long"):
        ActorTokenVerifier([public]).verify("a" * (auth.MAX_TOKEN_LENGTH + 1), ALICE)
