"""`make run`'s launcher, as a user runs it: four healthy services, commands answered, Ctrl-C clean.

Starts `python -m shared.devstack run` (what `make run` runs) on free ports in a throwaway var
directory, talks to it only through Kafka and HTTP, then sends SIGINT and checks no process of the
suite is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from shared.cli.common import send_raw
from shared.cli.config import CliConfig
from shared.devstack.processes import free_port, wait_for
from shared.devstack.stack import SERVICES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    var = tmp_path_factory.mktemp("suite") / "var"
    env = {
        **os.environ,
        "ESCROW_VAR_DIR": str(var),
        "EMBEDDED_POSTGRES_PORT": str(free_port()),
        "EMBEDDED_KAFKA_PORT": str(free_port()),
        "EMBEDDED_SMTP_PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        **{f"{name.upper()}_HTTP_PORT": str(free_port()) for name in SERVICES},
    }
    started = time.monotonic()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "shared.devstack", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert launcher.stdout is not None
    for line in launcher.stdout:
        lines.append(line)
        if "The suite is running" in line or launcher.poll() is not None:
            break
    print(f"make run: the suite was ready in {time.monotonic() - started:.1f}s", flush=True)
    assert any("The suite is running" in line for line in lines), "".join(lines)
    described = json.loads((var / "suite.json").read_text())
    described["launcher"] = launcher
    described["output"] = lines
    described["var"] = var
    yield described
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(60)


def test_four_services_are_healthy_and_expose_metrics(suite):
    services = suite["services"]
    assert set(services) == set(SERVICES)
    for url in services.values():
        ready = httpx.get(f"{url}/health/ready", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"running": True, "database": True, "broker": True}
        assert httpx.get(f"{url}/health/live", timeout=5).status_code == 200
        metrics = httpx.get(f"{url}/metrics", timeout=5).text
        assert "escrow_suite_outbox_backlog" in metrics


def test_the_psp_callbacks_alone_listen_on_the_public_port(suite):
    """Issue 12 point 5: the callback once shared its listener with the read API and /metrics.
    Payments' public listener serves `/callbacks/{gateway}` and nothing else; the internal one
    (reads, /metrics, health) no callback."""
    public, internal = suite["payments_public_url"], suite["services"]["payments"]
    refused = httpx.post(f"{public}/callbacks/sandbox", content=b"{}", timeout=5)
    # it reached the callback, which refused it
    assert 400 <= refused.status_code < 500 and refused.status_code != 404, refused.text
    for path in ("/wallets/con-1", "/ledger/totals", "/metrics", "/health/ready"):
        assert httpx.get(f"{public}{path}", timeout=5).status_code == 404, path
    assert httpx.post(f"{internal}/callbacks/sandbox", content=b"{}", timeout=5).status_code == 404
    assert httpx.get(f"{internal}/wallets/con-1", timeout=5).status_code == 401  # no token


@pytest.mark.parametrize(
    "type_", ["escrow.CreateEscrow.v1", "payments.StartPayment.v1", "disputes.OpenDispute.v1"]
)
async def test_every_command_topic_answers_an_invalid_command(suite, type_, monkeypatch):
    monkeypatch.setenv("ESCROW_VAR_DIR", str(suite["var"]))
    config = CliConfig.load()
    data = {"actor": {"user_id": "u-1", "role": "employer"}, "amount": 0, "unexpected": True}
    result = await send_raw(config, type_, data, command_id=None, wait=30)
    assert result is not None
    assert result.status == "rejected"
    assert result.reason_code in {"malformed", "invalid_amount"}
    assert result.command_type == type_


async def test_a_command_without_a_token_is_refused(suite, monkeypatch):
    monkeypatch.setenv("ESCROW_VAR_DIR", str(suite["var"]))
    monkeypatch.setenv("ACTOR_TOKEN_PRIVATE_KEY_FILE", "/nonexistent")
    config = CliConfig.load()
    data = {"actor": {"user_id": "u-1", "role": "employer"}, "escrow_id": "e-1"}
    result = await send_raw(config, "escrow.ReleaseEscrow.v1", data, command_id=None, wait=30)
    assert result is not None
    assert (result.status, result.reason_code) == ("rejected", "invalid_token")


def test_escrowctl_drives_the_escrow_service(suite):
    env = {**os.environ, "ESCROW_VAR_DIR": str(suite["var"])}

    def escrowctl(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    opened = escrowctl("escrow", "open-contract", "c-cli", "con-1", "IRR", "--as", "emp-1")
    assert opened["status"] == "accepted"
    escrowctl("escrow", "create", "e-cli", "c-cli", "250000", "--as", "emp-1")
    shown = escrowctl("escrow", "show", "e-cli")
    assert shown["escrow"]["state"] == "awaiting_payment"
    assert shown["escrow"]["amount"] == 250_000


# the demo is some forty `escrowctl` processes, each importing the suite and joining the broker:
# a minute alone, over three on 2 cores busy with two other test workers
@pytest.mark.timeout(480)
def test_make_demo_plays_the_story_and_the_books_reconcile(suite):
    env = {**os.environ, "ESCROW_VAR_DIR": str(suite["var"])}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli.demo"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "A job that needs an arbiter" in done.stdout
    assert "Final balances" in done.stdout
    assert "disagree" not in done.stdout


def test_ctrl_c_stops_everything_and_leaves_no_process(suite):
    launcher: subprocess.Popen[str] = suite["launcher"]
    pids = dict(suite["pids"])
    assert set(pids) == {*SERVICES, "postgresql", "tansu", "mail", "sandbox"}
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(90) == 0
    wait_for(
        lambda: not any(psutil.pid_exists(pid) and _alive(pid) for pid in pids.values()),
        10,
        "children to exit",
    )
    leftovers = [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(suite["var"]) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
