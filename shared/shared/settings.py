"""Per-service settings (pydantic-settings), read from the environment.

Development defaults point at the embedded stack of `make run`; production refuses unsafe values
(no actor-token key, audience or issuer, a leeway over a minute, plaintext Kafka, SASL PLAIN
without TLS, a database on this machine, the development key pair). A key file that is set must
be a readable file, in every environment; a blank one is unset.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.messaging.inbox import DAY_S, INBOX_RETENTION_S, MAX_RECORD_AGE_S
from shared.sealing import DEV_SEALING_KEYS, KeyRing
from shared.signing import DevelopmentKeyring, Keyring, Signer, SigningError, is_development_key

_DEV_SEALING_KEY = DEV_SEALING_KEYS.partition("=")[2].rstrip("=")

DEV_KEY_MARKER = "escrow-suite development key"
#: the longest an actor token may live (`exp - iat`) unless ACTOR_TOKEN_MAX_LIFETIME_S says less
DEFAULT_TOKEN_LIFETIME_S = 900
#: the most clock skew production tolerates on a token's times (ACTOR_TOKEN_LEEWAY_S)
MAX_PRODUCTION_LEEWAY_S = 60
#: settings naming a file the service reads (a key, a certificate)
KEY_FILE_SETTINGS = (
    "actor_token_public_key_file",
    "kafka_ssl_cafile",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
)
_LOCAL_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def is_local_host(host: str) -> bool:
    """Whether `host` is this machine: a loopback or unspecified address in any spelling
    (127.0.0.0/8, ::1, ::ffff:127.0.0.1, 0.0.0.0), a `localhost` name, or none at all or a
    directory (a Unix socket)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name or name.startswith("/"):
        return True
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _database_hosts(url: str) -> list[str] | None:
    """The hosts a database URL connects to (the query's `host`s replace the URL's: asyncpg's
    multi-host form), "" for none (the local socket); None if it is no database URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    listed = parsed.query.get("host", ())
    hosts = [listed] if isinstance(listed, str) else list(listed)
    return [_without_port(host) for host in hosts] or [parsed.host or ""]


def _without_port(host: str) -> str:
    """`db:5432` → `db`, `[::1]:5432` → `::1`; a bare IPv6 address stays whole."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class ServiceSettings(BaseSettings):
    """What every service reads; each service subclasses it with its own name and extras."""

    # hide_input_in_errors: a refused setting never shows its value (a key, a password in a URL)
    model_config = SettingsConfigDict(
        extra="ignore", env_nested_delimiter="__", hide_input_in_errors=True
    )

    #: whether this service keeps values sealed at rest (`shared.sealing`): it then needs a ring
    SEALS_AT_REST: ClassVar[bool] = False

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

    #: the internal listener: the read API, /metrics and health (keep it inside the cluster)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    #: the public listener, for a service with routes the outside world calls (payments: the
    #: PSP callbacks) and nothing else
    public_http_host: str = "127.0.0.1"
    public_http_port: int = 8009

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
    #: how long a processed message's id is kept in the inbox (duplicates of it are absorbed)
    inbox_retention_s: int = Field(default=INBOX_RETENTION_S, ge=2 * DAY_S)
    #: a consumed record whose `time` is older is dead-lettered `too_old`, never applied: kept at
    #: least a day under INBOX_RETENTION_S, so a copy of a pruned message is always refused
    max_record_age_s: int = Field(default=MAX_RECORD_AGE_S, ge=3_600)
    retry_initial_delay_ms: int = 100
    retry_max_delay_ms: int = 5_000
    #: attempts for a handler error that is not a known transient one, before it is dead-lettered
    handler_failure_attempts: int = 3
    graceful_timeout_s: float = 20.0

    #: the key ring sealing values at rest, `<id>=<base64url 32 bytes>,…`, the sealing key first
    #: (`python -m shared.sealing` prints a key); outside production the development ring
    sealing_keys: SecretStr | None = None

    #: PEM public key of the operator key: its tokens read the ledgers' totals (role operator)
    #: and nothing else; the reconciliation job signs its own with the private half
    operator_token_public_key: SecretStr | None = None

    #: this service's Ed25519 key signing what it publishes, `<key id>=<base64url 32-byte seed>`
    #: (`python -m shared.signing <service>` prints one); outside production the development key
    signing_key: SecretStr | None = None
    #: every producer's public keys, `<producer>:<key id>=<base64url 32 bytes>,…`: the consumed
    #: events are verified against them; outside production the development keys
    event_keys: str | None = None

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

    @field_validator(
        "actor_token_audience",
        "actor_token_issuer",
        "signing_key",
        "event_keys",
        *KEY_FILE_SETTINGS,
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(*KEY_FILE_SETTINGS, mode="after")
    @classmethod
    def _a_readable_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A key file that is set is read later (at start, or by the TLS context): refuse one
        that cannot be, here, naming the setting, instead of an IsADirectoryError at start."""
        if value is None:
            return value
        try:
            if not value.is_file():
                raise OSError("not a file")
            with value.open("rb"):
                pass
        except OSError:
            name = (info.field_name or "").upper()
            raise ValueError(
                f"{name} is not a readable file (a directory, missing, or denied)"
            ) from None
        return value

    def operator_token_keys(self) -> list[str]:
        key = self.operator_token_public_key
        return [key.get_secret_value()] if key and key.get_secret_value().strip() else []

    def signer(self) -> Signer:
        """The key this service signs with; its producer name is the service's name."""
        if self.signing_key is None:
            return Signer.development(self.service_name)
        return Signer.parse(self.service_name, self.signing_key.get_secret_value())

    def keyring(self) -> Keyring:
        return Keyring.parse(self.event_keys) if self.event_keys else DevelopmentKeyring()

    @model_validator(mode="after")
    def _no_copy_outlives_its_inbox_row(self) -> ServiceSettings:
        if self.max_record_age_s + DAY_S > self.inbox_retention_s:
            raise ValueError(
                "MAX_RECORD_AGE_S must be at least a day under INBOX_RETENTION_S (a copy of a "
                "message whose inbox row was pruned would be applied again)"
            )
        return self

    @model_validator(mode="after")
    def _readable_signing_keys(self) -> ServiceSettings:
        """Keys that cannot be read fail here, naming the setting (a key's text stays hidden)."""
        try:
            self.signer()
            self.keyring()
        except SigningError as exc:
            raise ValueError(str(exc)) from None
        return self

    def _signing_problems(self) -> list[str]:
        problems = []
        if self.signing_key is None:
            problems.append("SIGNING_KEY is required (the key signing what this service publishes)")
        elif is_development_key(self.service_name, self.signer().key.public_key()):
            problems.append("the development SIGNING_KEY must not be used")
        if not self.event_keys:
            problems.append("EVENT_KEYS is required (the producers' public keys)")
        else:
            ring = self.keyring()
            dev = [f"{p}:{k}" for p, k, _ in ring.public_keys() if _is_dev_entry(ring, p, k)]
            if dev:
                problems.append(f"EVENT_KEYS holds development keys ({', '.join(dev)})")
        return problems

    def sealing_ring(self) -> KeyRing | None:
        """The ring of a service that seals values at rest (None for the others)."""
        if not self.SEALS_AT_REST:
            return None
        keys = self.sealing_keys.get_secret_value() if self.sealing_keys else DEV_SEALING_KEYS
        return KeyRing.parse(keys)

    @field_validator("sealing_keys", mode="after")
    @classmethod
    def _a_readable_ring(cls, value: SecretStr | None) -> SecretStr | None:
        """A ring that cannot be read fails here, naming SEALING_KEYS (its text stays hidden)."""
        if value is not None:
            KeyRing.parse(value.get_secret_value())
        return value

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
        if self.SEALS_AT_REST and not self.sealing_keys:
            problems.append("SEALING_KEYS is required (the keys sealing secrets at rest)")
        elif self.sealing_keys and _DEV_SEALING_KEY in self.sealing_keys.get_secret_value():
            problems.append("the development sealing key must not be used")
        problems += self._signing_problems() + self._kafka_problems() + self._database_problems()
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    def _kafka_problems(self) -> list[str]:
        problems = []
        if self.kafka_security_protocol == "PLAINTEXT":
            problems.append("KAFKA_SECURITY_PROTOCOL must use TLS or SASL")
        if self.kafka_sasl_mechanism == "PLAIN" and self.kafka_security_protocol != "SASL_SSL":
            # PLAIN sends the password itself: only inside TLS
            problems.append("KAFKA_SASL_MECHANISM=PLAIN needs KAFKA_SECURITY_PROTOCOL=SASL_SSL")
        return problems

    def _database_problems(self) -> list[str]:
        hosts = _database_hosts(self.database_url)
        if hosts is None:
            return ["DATABASE_URL is not a database URL"]
        if any(is_local_host(host) for host in hosts):
            return ["DATABASE_URL points at this machine (a loopback host or a socket)"]
        return []


def _is_dev_entry(ring: Keyring, producer: str, key_id: str) -> bool:
    key = ring.key(producer, key_id)
    return key is not None and is_development_key(producer, key)
