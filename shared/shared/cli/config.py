"""Where `escrowctl` finds the suite: `var/suite.json` written by `make run`, or the environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.auth import ActorAuth
from shared.contract.base import Actor, Role
from shared.signing import DevelopmentKeyring, Keyring, Signer

#: where each service is, when no `var/suite.json` says: `<NAME>_URL`, e.g. ESCROW_URL
SERVICE_NAMES = ("escrow", "payments", "disputes", "notifications")


@dataclass(frozen=True)
class CliConfig:
    bootstrap_servers: str
    topic_prefix: str
    private_key_pem: str | None
    services: dict[str, str]
    #: the `aud` and `iss` the services require of tokens, when they are set
    token_audience: str | None = None
    token_issuer: str | None = None
    #: how `escrowctl contact` signs as the marketplace (MARKETPLACE_SIGNING_KEY, else the key
    #: `make run` generated, else the development key)
    marketplace_signer: Signer = field(
        default_factory=lambda: Signer.development("marketplace"), repr=False
    )
    #: the services' public keys, which their results must be signed with (EVENT_KEYS)
    keyring: Keyring = field(default_factory=DevelopmentKeyring, repr=False)

    def reading(self, role: Role = Role.ADMIN) -> httpx.Auth | None:
        """How `escrowctl` reads the services' HTTP API: as `escrowctl` in `role`, with tokens it
        signs. The operator role signs with OPERATOR_TOKEN_PRIVATE_KEY_FILE when it is set (the
        reconciliation job of a deployment); otherwise the actor-token key of `make run`."""
        operator_key = os.environ.get("OPERATOR_TOKEN_PRIVATE_KEY_FILE")
        if role == Role.OPERATOR and operator_key:
            actor = Actor(user_id="escrowctl-reconcile", role=Role.OPERATOR)
            return ActorAuth(Path(operator_key).read_text(), actor)
        if not self.private_key_pem:
            return None
        return ActorAuth(
            self.private_key_pem,
            Actor(user_id="escrowctl", role=role),
            audience=self.token_audience,
            issuer=self.token_issuer,
        )

    @classmethod
    def load(cls) -> CliConfig:
        var = Path(os.environ.get("ESCROW_VAR_DIR", "var"))
        described = (
            json.loads((var / "suite.json").read_text()) if (var / "suite.json").exists() else {}
        )
        key_file = os.environ.get(
            "ACTOR_TOKEN_PRIVATE_KEY_FILE", described.get("actor_token_private_key_file", "")
        )
        return cls(
            bootstrap_servers=os.environ.get(
                "KAFKA_BOOTSTRAP_SERVERS",
                described.get("kafka_bootstrap_servers", "127.0.0.1:19092"),
            ),
            topic_prefix=os.environ.get("TOPIC_PREFIX", described.get("topic_prefix", "")),
            private_key_pem=Path(key_file).read_text()
            if key_file and Path(key_file).exists()
            else None,
            services={
                name: os.environ.get(f"{name.upper()}_URL", described_url)
                for name, described_url in {
                    **dict.fromkeys(SERVICE_NAMES, ""),
                    **described.get("services", {}),
                }.items()
                if os.environ.get(f"{name.upper()}_URL", described_url)
            },
            token_audience=os.environ.get(
                "ACTOR_TOKEN_AUDIENCE", described.get("actor_token_audience") or ""
            )
            or None,
            token_issuer=os.environ.get(
                "ACTOR_TOKEN_ISSUER", described.get("actor_token_issuer") or ""
            )
            or None,
            marketplace_signer=_marketplace_signer(described),
            keyring=keyring_of(described),
        )


def _marketplace_signer(described: dict[str, Any]) -> Signer:
    if key := os.environ.get("MARKETPLACE_SIGNING_KEY"):
        return Signer.parse("marketplace", key)
    keys_file = Path(described.get("signing_keys_file", ""))
    if keys_file.is_file():
        return Signer.parse("marketplace", json.loads(keys_file.read_text())["marketplace"])
    return Signer.development("marketplace")


def keyring_of(described: dict[str, Any]) -> Keyring:
    """The services' public keys: EVENT_KEYS, else `make run`'s, else the development ones."""
    ring = os.environ.get("EVENT_KEYS") or described.get("event_keys")
    return Keyring.parse(ring) if ring else DevelopmentKeyring()
