"""Where `escrowctl` finds the suite: `var/suite.json` written by `make run`, or the environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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
        )
