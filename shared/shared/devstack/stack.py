"""The whole suite on one machine: PostgreSQL, Tansu, topics, migrations, four service processes.

Endpoints given in the environment (`KAFKA_BOOTSTRAP_SERVERS`, `<SERVICE>_DATABASE_URL`) are used
instead of the embedded servers, so the same launcher can drive real infrastructure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from shared.auth import ensure_dev_keypair
from shared.contract.registry import all_topics
from shared.db import migrate
from shared.devstack.postgres import EmbeddedPostgres
from shared.devstack.processes import free_port, port_open, spawn, stop, wait_for
from shared.devstack.tansu import Tansu
from shared.messaging.kafka import ensure_topics
from shared.signing import Keyring, Signer, ensure_keys, ring_of

#: the consumers' fetch wait against the embedded broker (see `_env`). Measured idle, the whole
#: suite uses 0.69 cores at 10 ms, 0.46 at 25, 0.30 at 50, 0.15 at 200: 50 ms bounds what a hop
#: may wait at low load without spending a core on idle fetches.
TANSU_FETCH_WAIT_MS = 50

SERVICES = {"escrow": 8001, "payments": 8002, "disputes": 8003, "notifications": 8004}
#: who signs what it publishes: each service, and the marketplace (`user-contacts`)
PRODUCERS = (*SERVICES, "marketplace")


@dataclass
class StackConfig:
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    postgres_port: int = 54329
    kafka_port: int = 19092
    #: a local mail catcher for the notifications service; mail lands in var/logs/mail.log
    smtp_port: int = 1025
    #: the payments service's sandbox gateway (a PSP-shaped HTTP server for development)
    sandbox_port: int = 8010
    http_ports: dict[str, int] = field(default_factory=lambda: dict(SERVICES))
    kafka_bootstrap_servers: str | None = None
    database_urls: dict[str, str] = field(default_factory=dict)
    topic_prefix: str = ""
    service_env: dict[str, str] = field(default_factory=dict)
    fast_postgres: bool = False
    #: processes per service: the first is `<name>`, the others `<name>-2`, `<name>-3`, …, each
    #: on its own HTTP port (`http_ports["<name>-2"]`, else a free one) and in the same group
    replicas: int = 1

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        return cls(
            var_dir=Path(env.get("ESCROW_VAR_DIR", "var")),
            postgres_port=int(env.get("EMBEDDED_POSTGRES_PORT", "54329")),
            http_ports={
                name: int(env.get(f"{name.upper()}_HTTP_PORT", port))
                for name, port in SERVICES.items()
            },
            kafka_port=int(env.get("EMBEDDED_KAFKA_PORT", "19092")),
            smtp_port=int(env.get("EMBEDDED_SMTP_PORT", "1025")),
            sandbox_port=int(env.get("SANDBOX_PORT", "8010")),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS"),
            database_urls={
                name: env[f"{name.upper()}_DATABASE_URL"]
                for name in SERVICES
                if f"{name.upper()}_DATABASE_URL" in env
            },
            topic_prefix=env.get("TOPIC_PREFIX", ""),
        )


class SuiteStack:
    def __init__(self, config: StackConfig, *, say: Callable[[str], None] = print) -> None:
        self.config = config
        self.say = say
        self.postgres: EmbeddedPostgres | None = None
        self.tansu: Tansu | None = None
        #: every service process by its name: `escrow`, then replicas `escrow-2`, …
        self.services: dict[str, subprocess.Popen[bytes]] = {}
        self.http_ports: dict[str, int] = dict(config.http_ports)
        #: the public listener of each payments process (its PSP callbacks)
        self.public_ports: dict[str, int] = {}
        self.mail: subprocess.Popen[bytes] | None = None
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.database_urls: dict[str, str] = {}
        self.bootstrap_servers = ""
        self.keys_dir = config.var_dir / "keys"
        #: the producers' event-signing keys, generated on the first run (`shared.signing`)
        self.signers: dict[str, Signer] = {}
        self.logs_dir = config.var_dir / "logs"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        private_key, public_key = ensure_dev_keypair(self.keys_dir)
        self.signers = ensure_keys(self.signing_keys_file, PRODUCERS)
        self._start_databases()
        self._start_broker()
        asyncio.run(
            ensure_topics(self.bootstrap_servers, all_topics(), prefix=self.config.topic_prefix)
        )
        self.say(f"topics     {len(all_topics())} topics and their .dlq twins")
        self._migrate()
        self._start_mail()
        self._start_sandbox()
        for name in SERVICES:
            for process in self.replica_names(name):
                self._start_service(name, process, public_key)
        for process in list(self.services):
            wait_for(partial(self._ready, process), 60, f"{process} to be ready", interval=0.25)
        self._write_description(private_key, public_key)
        self.say(f"ready      in {time.monotonic() - started:.1f}s")

    def stop(self) -> None:
        for name, process in self.services.items():
            stop(process, timeout=30)
            self.say(f"stopped    {name}")
        self.services.clear()
        for helper in (self.mail, self.sandbox):
            if helper is not None:
                stop(helper, timeout=5)
        self.mail = self.sandbox = None
        if self.tansu:
            self.tansu.stop()
            self.say("stopped    tansu")
        if self.postgres:
            self.postgres.stop()
            self.say("stopped    postgresql")

    def crashed(self) -> list[str]:
        return [n for n, p in self.services.items() if p.poll() is not None]

    def restart(self, process: str) -> None:
        """Start a service process that exited again: same environment, same ports."""
        if self.services[process].poll() is None:
            raise RuntimeError(f"{process} is still running")
        name = process if process in SERVICES else process.rsplit("-", 1)[0]
        _, public_key = ensure_dev_keypair(self.keys_dir)
        self._start_service(name, process, public_key)

    # --- steps -----------------------------------------------------------------------------

    def _start_databases(self) -> None:
        self.database_urls = dict(self.config.database_urls)
        missing = [name for name in SERVICES if name not in self.database_urls]
        if not missing:
            return
        self.postgres = EmbeddedPostgres(
            self.config.var_dir / "postgres",
            port=self.config.postgres_port,
            host=self.config.host,
            fast=self.config.fast_postgres,
        )
        self.postgres.start()
        for name in missing:
            self.database_urls[name] = self.postgres.create_database(name)
        self.say(
            f"postgresql {self.postgres.url('<service>')}  (embedded, in {self.postgres.data_dir})"
        )

    def _start_broker(self) -> None:
        if self.config.kafka_bootstrap_servers:
            self.bootstrap_servers = self.config.kafka_bootstrap_servers
            self.say(f"kafka      {self.bootstrap_servers}")
            return
        self.tansu = Tansu(
            port=self.config.kafka_port, host=self.config.host, log=self.logs_dir / "tansu.log"
        )
        self.tansu.start()
        self.bootstrap_servers = self.tansu.bootstrap_servers
        self.say(f"kafka      {self.bootstrap_servers}  (embedded Tansu, memory only)")

    def _start_mail(self) -> None:
        address = f"{self.config.host}:{self.config.smtp_port}"
        self.mail = spawn(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                address,
                "-c",
                "notifications.devmail.ReadableMail",
            ],
            log=self.logs_dir / "mail.log",
        )
        wait_for(
            partial(port_open, self.config.host, self.config.smtp_port), 15, "the mail catcher"
        )
        self.say(
            f"mail       smtp://{address}  (catches every email: {self.logs_dir / 'mail.log'})"
        )

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.config.host}:{self.config.sandbox_port}"

    def _start_sandbox(self) -> None:
        env = {
            **os.environ,
            "SANDBOX_HOST": self.config.host,
            "SANDBOX_PORT": str(self.config.sandbox_port),
        }
        self.sandbox = spawn(
            [sys.executable, "-m", "payments.sandbox"], env=env, log=self.logs_dir / "sandbox.log"
        )
        wait_for(partial(port_open, self.config.host, self.config.sandbox_port), 30, "the sandbox")
        self.say(f"sandbox    {self.sandbox_url}  (the development payment gateway)")

    def replica_names(self, name: str) -> list[str]:
        """The process names of one service: `escrow`, `escrow-2`, … (`replicas` of them)."""
        return [name, *(f"{name}-{i}" for i in range(2, self.config.replicas + 1))]

    def _env(
        self, name: str, public_key: Path | None = None, process: str | None = None
    ) -> dict[str, str]:
        env = {
            **os.environ,
            "SERVICE_NAME": name,
            "DATABASE_URL": self.database_urls[name],
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "TOPIC_PREFIX": self.config.topic_prefix,
            "HTTP_HOST": self.config.host,
            "HTTP_PORT": str(self.http_ports[process or name]),
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            # Tansu answers a fetch of several partitions only when its wait is over, not when a
            # record arrives (Apache Kafka answers at once): a hop waits up to the fetch wait.
            **({"KAFKA_FETCH_MAX_WAIT_MS": str(TANSU_FETCH_WAIT_MS)} if self.tansu else {}),
            "SMTP_HOST": self.config.host,
            "SMTP_PORT": str(self.config.smtp_port),
            "SANDBOX_URL": self.sandbox_url,
            "PUBLIC_URL": self.public_url,
            **(
                {"PUBLIC_HTTP_PORT": str(self.public_ports[process or name])}
                if (process or name) in self.public_ports
                else {}
            ),
            # webhooks of development go to receivers on this machine (notifications' setting)
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": os.environ.get(
                "WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"
            ),
            **self.config.service_env,
        }
        if public_key is not None:
            env["ACTOR_TOKEN_PUBLIC_KEY_FILE"] = str(public_key.resolve())
        if self.signers:
            env.setdefault("SIGNING_KEY", self.signers[name].setting())
            env.setdefault("EVENT_KEYS", ring_of(self.signers.values()))
        return env

    @property
    def signing_keys_file(self) -> Path:
        return self.keys_dir / "event-signing-keys.json"

    def signer(self, producer: str) -> Signer:
        """How `producer` (a service, or the marketplace) signs in this stack."""
        return self.signers[producer]

    def keyring(self) -> Keyring:
        return Keyring.parse(ring_of(self.signers.values()))

    def _migrate(self) -> None:
        # In this process, one after the other: four interpreters importing Alembic and
        # SQLAlchemy at once cost more than the migrations themselves.
        for name in SERVICES:
            migrate(name, self.database_urls[name])
        self.say(f"migrated   {', '.join(SERVICES)}")

    def _start_service(self, name: str, process: str, public_key: Path) -> None:
        if process not in self.http_ports:
            self.http_ports[process] = free_port(self.config.host)
        self.services[process] = spawn(
            [sys.executable, "-m", name],
            env=self._env(name, public_key, process),
            log=self.logs_dir / f"{process}.log",
        )

    @property
    def public_url(self) -> str:
        """Where the PSP calls payments back (its first process's public listener)."""
        if "payments" not in self.public_ports:
            for process in self.replica_names("payments"):
                self.public_ports[process] = free_port(self.config.host)
        return f"http://{self.config.host}:{self.public_ports['payments']}"

    def url(self, name: str) -> str:
        """The HTTP address of a service (its first process) or of one replica (`escrow-2`)."""
        return f"http://{self.config.host}:{self.http_ports[name]}"

    def _ready(self, name: str) -> bool:
        if self.services[name].poll() is not None:
            raise RuntimeError(f"{name} exited; see {self.logs_dir / (name + '.log')}")
        try:
            return httpx.get(self.url(name) + "/health/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def describe(self) -> dict[str, object]:
        return {
            "kafka_bootstrap_servers": self.bootstrap_servers,
            "topic_prefix": self.config.topic_prefix,
            "services": {name: self.url(name) for name in SERVICES},
            "sandbox_url": self.sandbox_url,
            "payments_public_url": self.public_url,
            "pids": {
                **{name: p.pid for name, p in self.services.items()},
                **(
                    {"postgresql": self.postgres.process.pid}
                    if self.postgres and self.postgres.process
                    else {}
                ),
                **({"tansu": self.tansu.process.pid} if self.tansu and self.tansu.process else {}),
                **({"mail": self.mail.pid} if self.mail else {}),
                **({"sandbox": self.sandbox.pid} if self.sandbox else {}),
            },
        }

    def _write_description(self, private_key: Path, public_key: Path) -> None:
        given = {**os.environ, **self.config.service_env}
        description = {
            **self.describe(),
            "actor_token_private_key_file": str(private_key.resolve()),
            "actor_token_public_key_file": str(public_key.resolve()),
            # what the services check when set, so that `escrowctl` signs tokens they accept
            "actor_token_audience": given.get("ACTOR_TOKEN_AUDIENCE") or None,
            "actor_token_issuer": given.get("ACTOR_TOKEN_ISSUER") or None,
            # how `escrowctl` signs as the marketplace and checks the services' results
            "signing_keys_file": str(self.signing_keys_file.resolve()),
            "event_keys": ring_of(self.signers.values()),
        }
        (self.config.var_dir / "suite.json").write_text(json.dumps(description, indent=2) + "\n")
        for name in SERVICES:
            self.say(
                f"{name:<13}{self.url(name)}  metrics {self.url(name)}/metrics  "
                f"log {self.logs_dir / (name + '.log')}"
            )
