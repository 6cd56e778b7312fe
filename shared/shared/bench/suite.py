"""The suite under test: `SuiteStack` as `make run` starts it (no fast test settings), on free
loopback ports and in the bench's own var directory, which is wiped first."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.devstack.processes import free_port
from shared.devstack.stack import SERVICES, StackConfig, SuiteStack

HOST = "127.0.0.1"
#: written into a var directory the bench created; only such a directory is ever wiped
MARKER = ".escrow-bench"


class NotABenchDirectory(RuntimeError):
    """The var directory holds something else than an earlier bench run: it is left alone."""


def prepare_var_dir(
    path: Path, *, marker: str = MARKER, made_by: str = "python -m shared.bench"
) -> Path:
    """An empty var directory: a missing or empty one is created, an earlier run's is wiped.
    `marker` names the file that says which tool (`made_by`) made it: only such a one is wiped."""
    path = path.resolve()
    if path.exists() and any(path.iterdir()):
        if not (path / marker).exists():
            raise NotABenchDirectory(
                f"{path} is not empty and was not made by `{made_by}`; name another --var-dir"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / marker).write_text(f"made by `{made_by}`; wiped at each run\n")
    return path


def stack_config(var_dir: Path, replicas: int) -> StackConfig:
    """The shipped configuration, on ports of its own (nothing of a `make run` is touched)."""
    return StackConfig(
        var_dir=var_dir,
        host=HOST,
        postgres_port=free_port(HOST),
        kafka_port=free_port(HOST),
        smtp_port=free_port(HOST),
        sandbox_port=free_port(HOST),
        http_ports={name: free_port(HOST) for name in SERVICES},
        replicas=replicas,
    )


@dataclass(frozen=True)
class Suite:
    """What the measurements need to know of the running suite."""

    stack: SuiteStack
    bootstrap_servers: str
    private_key_pem: str
    payments_url: str
    #: process name -> pid: services (and replicas), postgresql, tansu, mail, sandbox
    pids: dict[str, int]

    def fetch_wait_ms(self, default: int) -> int:
        """The Kafka fetch wait the escrow process was started with (its environment)."""
        try:
            found = psutil.Process(self.pids["escrow"]).environ().get("KAFKA_FETCH_MAX_WAIT_MS")
        except (psutil.Error, KeyError):
            found = None
        return int(found) if found and found.isdigit() else default

    def postgres_dsn(self, database: str) -> str:
        """An asyncpg DSN of the suite's PostgreSQL server for `database`."""
        assert self.stack.postgres is not None
        return self.stack.postgres.url(database).replace("postgresql+asyncpg://", "postgresql://")


def start(var_dir: Path, replicas: int, say: Callable[[str], None]) -> SuiteStack:
    """Start the suite; on failure whatever was started is stopped before the error goes up."""
    stack = SuiteStack(stack_config(var_dir, replicas), say=say)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    return stack


def describe(stack: SuiteStack) -> Suite:
    pids = stack.describe()["pids"]
    assert isinstance(pids, dict)
    return Suite(
        stack=stack,
        bootstrap_servers=stack.bootstrap_servers,
        private_key_pem=(stack.keys_dir / "actor-token.key.pem").read_text(),
        payments_url=stack.url("payments"),
        pids={str(name): int(pid) for name, pid in pids.items()},
    )
