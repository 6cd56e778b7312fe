"""What the suite's own tools sign is accepted by the services: the bench signs one token per
actor and signs it again before it gets old (the services refuse a lifetime over 15 minutes), and
`escrowctl` signs for the audience and issuer the services were started with."""

from __future__ import annotations

import json
from typing import Any

from shared.auth import ActorTokenVerifier, ensure_dev_keypair, sign_actor_token
from shared.bench import driver
from shared.cli.config import CliConfig
from shared.contract.base import Actor, Role

ACTOR = Actor(user_id="bench-emp", role=Role.EMPLOYER)


async def test_a_token_is_reused_then_replaced_before_it_expires(tmp_path, monkeypatch):
    private, public = (p.read_text() for p in ensure_dev_keypair(tmp_path))
    bench = driver.Driver("127.0.0.1:1", private, fetch_max_wait_ms=50)
    clock = [1000.0]
    monkeypatch.setattr(driver.time, "monotonic", lambda: clock[0])
    signed: list[str] = []

    def sign(*args: Any, **kw: Any) -> str:
        signed.append(sign_actor_token(*args, **kw))
        return signed[-1]

    monkeypatch.setattr(driver, "sign_actor_token", sign)
    verifier = ActorTokenVerifier([public])
    try:
        verifier.verify(bench.token(ACTOR), ACTOR)  # within the services' default bounds
        clock[0] += driver.TOKEN_REFRESH_S - 1
        bench.token(ACTOR)
        assert len(signed) == 1
        clock[0] += 1
        verifier.verify(bench.token(ACTOR), ACTOR)
        assert len(signed) == 2
    finally:
        await bench.stop()
    assert driver.TOKEN_TTL.total_seconds() - driver.TOKEN_REFRESH_S >= 60, "room for a backlog"


def test_escrowctl_signs_for_the_audience_and_issuer_the_services_check(tmp_path, monkeypatch):
    private, public = ensure_dev_keypair(tmp_path / "keys")
    described = {
        "actor_token_private_key_file": str(private),
        "actor_token_audience": "escrow-suite",
        "actor_token_issuer": "https://id.example",
    }
    (tmp_path / "suite.json").write_text(json.dumps(described))
    monkeypatch.setenv("ESCROW_VAR_DIR", str(tmp_path))
    for name in ("ACTOR_TOKEN_PRIVATE_KEY_FILE", "ACTOR_TOKEN_AUDIENCE", "ACTOR_TOKEN_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    config = CliConfig.load()
    assert config.private_key_pem is not None
    token = sign_actor_token(
        config.private_key_pem, ACTOR, audience=config.token_audience, issuer=config.token_issuer
    )
    ActorTokenVerifier(
        [public.read_text()], audience="escrow-suite", issuer="https://id.example"
    ).verify(token, ACTOR)
    monkeypatch.setenv("ACTOR_TOKEN_AUDIENCE", "")  # unset: the services check no audience
    assert CliConfig.load().token_audience is None
