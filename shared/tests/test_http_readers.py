"""Whose bearer tokens the read API takes (issue 12 point 5): the marketplace's actor tokens,
and the operator key's tokens for the operator role only (`shared.http.Readers`)."""

from __future__ import annotations

import pytest
from shared.auth import ActorTokenVerifier, ensure_dev_keypair, sign_actor_token
from shared.contract.base import Actor, Role
from shared.http import Readers, Unauthorized
from starlette.requests import Request

EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
OPERATOR = Actor(user_id="reconcile", role=Role.OPERATOR)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    marketplace = ensure_dev_keypair(tmp_path_factory.mktemp("marketplace"))
    operator = ensure_dev_keypair(tmp_path_factory.mktemp("operator"))
    return {
        "marketplace": tuple(p.read_text() for p in marketplace),
        "operator": tuple(p.read_text() for p in operator),
    }


def request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def readers(keys) -> Readers:
    return Readers(
        ActorTokenVerifier([keys["marketplace"][1]]), ActorTokenVerifier([keys["operator"][1]])
    )


def test_an_actor_token_names_its_reader(keys):
    token = sign_actor_token(keys["marketplace"][0], EMPLOYER)
    assert readers(keys).of(request(f"Bearer {token}")).actor == EMPLOYER


def test_the_operator_key_signs_for_the_operator_role_and_nothing_else(keys):
    operator = sign_actor_token(keys["operator"][0], OPERATOR)
    assert readers(keys).of(request(f"Bearer {operator}")).actor == OPERATOR
    posing = sign_actor_token(keys["operator"][0], Actor(user_id="ops", role=Role.ADMIN))
    with pytest.raises(Unauthorized, match="operator tokens only"):
        readers(keys).of(request(f"Bearer {posing}"))
    # and without an operator key configured, its tokens are nobody's
    alone = Readers(ActorTokenVerifier([keys["marketplace"][1]]))
    with pytest.raises(Unauthorized):
        alone.of(request(f"Bearer {operator}"))


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Token abc", "Basic ZTpw", "Bearer a.b.c"],
    ids=["absent", "empty", "no-token", "blank", "other-scheme", "basic", "garbage"],
)
def test_anything_else_is_unauthorized(keys, authorization):
    with pytest.raises(Unauthorized) as refused:
        readers(keys).of(request(authorization))
    answer = refused.value.answer()
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_is_unauthorized(keys):
    from datetime import UTC, datetime, timedelta

    old = datetime.now(UTC) - timedelta(hours=1)
    token = sign_actor_token(keys["marketplace"][0], EMPLOYER, now=old)
    with pytest.raises(Unauthorized, match="expired"):
        readers(keys).of(request(f"Bearer {token}"))
