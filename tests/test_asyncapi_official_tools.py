"""The official AsyncAPI tools accept the committed `docs/asyncapi.json`: @asyncapi/parser with 0
errors and 0 warnings, and @asyncapi/modelina generates a model of each message's own data
(EscrowReleased with `gross`), not one shared `Data`.

Both come from the npm registry at the exact versions of `tools/asyncapi/package-lock.json`
(`npm ci`, only when `node_modules` is missing or older than the lock; install scripts are not
run: the tools need none). Node and npm are required, never skipped: without them this fails.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from shared.contract.registry import SPECS

ROOT = Path(__file__).parents[1]
TOOLS = ROOT / "tools" / "asyncapi"
DOCUMENT = ROOT / "docs" / "asyncapi.json"
#: written by `npm ci` when it has installed everything the lock names
INSTALLED = TOOLS / "node_modules" / ".package-lock.json"

pytestmark = pytest.mark.timeout(600)


def _tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed: the AsyncAPI check needs Node.js 20 and npm"
    return found


def _installed() -> None:
    """`npm ci` unless node_modules is as new as the lock (and package.json)."""
    npm = _tool("npm")
    lock = TOOLS / "package-lock.json"
    with lock.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # one install at a time, whoever runs the tests
        wanted = max(lock.stat().st_mtime, (TOOLS / "package.json").stat().st_mtime)
        if INSTALLED.exists() and INSTALLED.stat().st_mtime >= wanted:
            return
        done = subprocess.run(
            # --prefer-offline: what npm's cache holds at the locked integrity is not asked again
            [
                npm,
                "ci",
                "--ignore-scripts",
                "--prefer-offline",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            cwd=TOOLS,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def checked() -> tuple[subprocess.CompletedProcess[str], dict]:
    _installed()
    done = subprocess.run(
        [_tool("node"), str(TOOLS / "check.mjs"), str(DOCUMENT)],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"check.mjs printed nothing:\n{done.stderr}"
    return done, json.loads(lines[-1])


def test_the_official_parser_accepts_the_document(checked):
    done, summary = checked
    report = f"{done.stdout}\n{done.stderr}"
    assert summary["document"], report
    assert summary["diagnostics"]["error"] == 0, report
    assert summary["diagnostics"]["warning"] == 0, report
    assert summary["problems"] == [], report
    assert done.returncode == 0, report


def test_modelina_generates_each_messages_own_data(checked):
    _, summary = checked
    assert "gross" in summary["released"]
    assert "Data" not in summary["models"]
    assert summary["envelopes"] == {t: s.model.__name__ for t, s in SPECS.items()}
