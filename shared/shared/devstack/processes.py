"""Child processes that never outlive the launcher, and small waiting helpers."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child after fork (and after any user switch): the kernel sends SIGTERM to the
    # child when the launcher dies, even by SIGKILL, so no orphan is ever left behind.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session: Ctrl-C reaches only the launcher, which stops it."""
    out: IO[Any] | int = subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    return subprocess.Popen(
        list(argv),
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        user=user,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - deliberate, see _die_with_parent
    )


def stop(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def is_root() -> bool:
    return os.geteuid() == 0
