"""Per-service settings (pydantic-settings), read from the environment.

Development defaults point at the embedded stack of `make run`; production refuses unsafe values
(no actor-token key, audience or issuer, a leeway over a minute, plaintext Kafka, the development
key pair).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_KEY_MARKER = "escrow-suite development key"
#: the longest an actor token may live (`exp - iat`) unless ACTOR_TOKEN_MAX_LIFETIME_S says less
DEFAULT_TOKEN_LIFETIME_S = 900
#: the most clock skew production tolerates on a token's times (ACTOR_TOKEN_LEEWAY_S)
MAX_PRODUCTION_LEEWAY_S = 60


class ServiceSettings(BaseSettings):
    """What every service reads; each service subclasses it with its own name and extras."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "service"
    environment: Literal["development", "test", "production"] = "development"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/postgres"
    database_pool_size: int = 8

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    #: Tansu refuses idempotent producers and transactions; turn this on for Apache Kafka.
    kafka_enable_idempotence: bool = False
    kafka_group_id: str | None = None
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 200
    kafka_max_poll_interval_ms: int = 300_000
    #: records fetched and handled as one batch; its offsets are committed together
    kafka_max_records: int = Field(default=500, ge=1, le=5_000)
    #: the largest record the suite consumes or produces (value bytes). Apache Kafka refuses
    #: records near 1 MiB by default and Tansu has no limit, so the suite keeps its own: a larger
    #: record is dead-lettered `too_large` (its value cut to this size), a larger outgoing message
    #: fails its handler, and room is left for a dead letter's headers under Kafka's limit.
    max_message_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=900 * 1024)
    #: lanes of one batch handled at once, one key's records always in one lane (each lane holds
    #: a database connection: keep it below the pool size)
    consumer_lanes: int = Field(default=4, ge=1, le=64)
    #: records of a lane committed in one transaction, each under its own savepoint; at most 64,
    #: the subtransactions a PostgreSQL backend caches (more slows every other session's snapshots)
    group_commit_size: int = Field(default=64, ge=1, le=64)
    topic_prefix: str = ""

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    actor_token_public_key: SecretStr | None = None
    actor_token_public_key_file: Path | None = None
    #: the `aud` a token must carry, exactly (required in production)
    actor_token_audience: str | None = None
    #: the `iss` a token must carry, exactly (required in production)
    actor_token_issuer: str | None = None
    #: clock skew allowed on `exp`, `iat` and `nbf` (at most 60 s in production)
    actor_token_leeway_s: int = Field(default=30, ge=0)
    #: a token living longer (`exp - iat`) is refused
    actor_token_max_lifetime_s: int = Field(default=DEFAULT_TOKEN_LIFETIME_S, ge=1, le=86_400)

    #: the relay wakes on every commit (in-process, and LISTEN/NOTIFY across replicas); this is
    #: only the longest it sleeps, and how often a replica that does not lead tries to take over
    outbox_poll_interval_ms: int = 1_000
    outbox_batch_size: int = Field(default=500, ge=1, le=5_000)
    outbox_retention_hours: int = 168
    retry_initial_delay_ms: int = 100
    retry_max_delay_ms: int = 5_000
    #: attempts for a handler error that is not a known transient one, before it is dead-lettered
    handler_failure_attempts: int = 3
    graceful_timeout_s: float = 20.0

    @property
    def group_id(self) -> str:
        return self.kafka_group_id or self.service_name

    def actor_token_keys(self) -> list[str]:
        """PEM public keys that may sign actor tokens (the inline key, then the file)."""
        keys = []
        if self.actor_token_public_key:
            keys.append(self.actor_token_public_key.get_secret_value())
        if self.actor_token_public_key_file:
            keys.append(self.actor_token_public_key_file.read_text())
        return keys

    @field_validator("actor_token_audience", "actor_token_issuer", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        problems = []
        if not (self.actor_token_public_key or self.actor_token_public_key_file):
            problems.append("ACTOR_TOKEN_PUBLIC_KEY(_FILE) is required")
        elif any(DEV_KEY_MARKER in key for key in self.actor_token_keys()):
            problems.append("the development actor-token key must not be used")
        if not self.actor_token_audience:
            problems.append("ACTOR_TOKEN_AUDIENCE is required (the `aud` tokens for us carry)")
        if not self.actor_token_issuer:
            problems.append("ACTOR_TOKEN_ISSUER is required (the identity service's `iss`)")
        if self.actor_token_leeway_s > MAX_PRODUCTION_LEEWAY_S:
            problems.append(f"ACTOR_TOKEN_LEEWAY_S must be at most {MAX_PRODUCTION_LEEWAY_S}")
        if self.kafka_security_protocol == "PLAINTEXT":
            problems.append("KAFKA_SECURITY_PROTOCOL must use TLS or SASL")
        if "127.0.0.1" in self.database_url or "localhost" in self.database_url:
            problems.append("DATABASE_URL points at the local development database")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self
