"""Actor tokens are tightly bound: numeric times, a bounded lifetime, no future `iat`, exactly
this audience and issuer; a remembered token expires when a fresh verification would refuse it."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from shared.auth import ActorTokenVerifier, TokenRefused, ensure_dev_keypair
from shared.contract.base import Actor, Role

from shared import auth

ALICE = Actor(user_id="alice", role=Role.EMPLOYER)
TEN_YEARS = 10 * 365 * 24 * 3600


@pytest.fixture
def keys(tmp_path) -> tuple[str, str]:
    private, public = ensure_dev_keypair(tmp_path)
    return private.read_text(), public.read_text()


def token(private: str, **claims: Any) -> str:
    """A token for ALICE issued now and living a minute, with `claims` changed (None: left out)."""
    now = int(time.time())
    body = {"sub": "alice", "role": "employer", "iat": now, "exp": now + 60, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, private, algorithm="EdDSA")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (lambda now: {"exp": str(now + 60)}, "exp is not a number"),
        (lambda now: {"exp": None}, '"exp"'),
        (lambda now: {"exp": True}, "exp is not a number|expired"),
        (lambda now: {"iat": None}, '"iat"'),
        (lambda now: {"iat": str(now)}, "iat is not a number"),
        (lambda now: {"exp": now + TEN_YEARS}, "longer than the 900 s allowed"),
        (lambda now: {"iat": now + 3600, "exp": now + 3660}, "future|not yet valid"),
    ],
    ids=["string-exp", "no-exp", "boolean-exp", "no-iat", "string-iat", "10-year", "future-iat"],
)
def test_a_token_not_tightly_bound_in_time_is_refused(keys, claims, message):
    private, public = keys
    with pytest.raises(TokenRefused, match=message):
        ActorTokenVerifier([public]).verify(token(private, **claims(int(time.time()))), ALICE)


def test_the_lifetime_bound_is_exp_minus_iat_and_configurable(keys):
    private, public = keys
    now = int(time.time())
    verifier = ActorTokenVerifier([public], max_lifetime_s=120)
    verifier.verify(token(private, iat=now - 10, exp=now - 10 + 120), ALICE)
    with pytest.raises(TokenRefused, match="lives 121 s"):
        verifier.verify(token(private, iat=now - 10, exp=now - 10 + 121), ALICE)


def test_an_iat_ahead_within_the_leeway_is_accepted_beyond_it_refused(keys):
    private, public = keys
    now = int(time.time())
    verifier = ActorTokenVerifier([public], leeway_s=30)
    verifier.verify(token(private, iat=now + 20, exp=now + 80), ALICE)
    with pytest.raises(TokenRefused, match=r"future|not yet valid"):
        verifier.verify(token(private, iat=now + 45, exp=now + 105), ALICE)


def test_a_claim_refused_under_the_right_key_is_reported_whatever_the_key_order(keys, tmp_path):
    private, public = keys
    other_public = ensure_dev_keypair(tmp_path / "other")[1].read_text()
    for trusted in ([public, other_public], [other_public, public]):
        with pytest.raises(TokenRefused, match='"iat"'):
            ActorTokenVerifier(trusted).verify(token(private, iat=None), ALICE)


@pytest.mark.parametrize(
    ("aud", "expected", "accepted"),
    [
        ("escrow-suite", "escrow-suite", True),
        ("chat-service", "escrow-suite", False),
        (["escrow-suite", "chat-service"], "escrow-suite", False),
        (["escrow-suite"], "escrow-suite", False),
        (None, "escrow-suite", False),
        ("escrow", "escrow-suite", False),
        ("chat-service", None, False),
        (None, None, True),
    ],
    ids=[
        "exact",
        "other",
        "list-with-ours",
        "list-of-ours",
        "none",
        "prefix",
        "unexpected",
        "unset",
    ],
)
def test_the_audience_must_be_exactly_ours(keys, aud, expected, accepted):
    private, public = keys
    verifier = ActorTokenVerifier([public], audience=expected)
    signed = token(private, aud=aud)
    if accepted:
        verifier.verify(signed, ALICE)
    else:
        with pytest.raises(TokenRefused, match="aud"):
            verifier.verify(signed, ALICE)


@pytest.mark.parametrize("iss", [None, "https://evil.example", "https://id.example/"])
def test_the_issuer_when_configured_must_be_exactly_it(keys, iss):
    private, public = keys
    verifier = ActorTokenVerifier([public], issuer="https://id.example")
    verifier.verify(token(private, iss="https://id.example"), ALICE)
    with pytest.raises(TokenRefused, match="iss"):
        verifier.verify(token(private, iss=iss), ALICE)


def test_a_remembered_token_expires_at_its_exp_plus_the_leeway(keys, monkeypatch):
    private, public = keys
    now = int(time.time())
    for leeway in (0, 30):
        verifier = ActorTokenVerifier([public], leeway_s=leeway)
        signed = token(private, iat=now, exp=now + 60, jti=f"leeway-{leeway}")
        verifier.verify(signed, ALICE)
        monkeypatch.setattr(auth.time, "time", lambda leeway=leeway: now + 60 + leeway - 1)
        verifier.verify(signed, ALICE)  # from memory, still within the leeway
        monkeypatch.setattr(auth.time, "time", lambda leeway=leeway: now + 60 + leeway)
        with pytest.raises(TokenRefused, match="expired"):
            verifier.verify(signed, ALICE)  # where PyJWT refuses it too: exp <= now - leeway
        monkeypatch.undo()


def test_a_refused_token_is_never_remembered(keys):
    private, public = keys
    verifier = ActorTokenVerifier([public])
    long_lived = token(private, exp=int(time.time()) + TEN_YEARS)
    for _ in range(2):
        with pytest.raises(TokenRefused, match="longer than"):
            verifier.verify(long_lived, ALICE)
    assert not verifier._verified
