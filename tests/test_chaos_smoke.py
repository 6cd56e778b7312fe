"""`make chaos` as a smoke test: `python -m shared.chaos` with 12 lifecycles (every kind) and one
fault of each kind (a service killed and restarted, the broker paused 3 s at most, PostgreSQL
stopped hard and started again, records duplicated), fixed seed: every check of the run passes
and the table has each section.

Nothing here depends on the machine's speed: every wait of the harness is on a condition with a
generous bound (a step 180 s, settling 180 s), far above what an idle machine needs."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest
from payments.sandbox.signing import DEV_SECRET
from shared.chaos.driver import SANDBOX_SECRET
from shared.chaos.options import FAULTS
from shared.chaos.plans import Kind
from shared.chaos.report import SECTIONS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

LIFECYCLES = 8  # one of each kind


@pytest.fixture(scope="module")
def chaos(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict]:
    var = tmp_path_factory.mktemp("chaos") / "var"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.chaos",
            "--lifecycles",
            str(LIFECYCLES),
            "--in-flight",
            str(LIFECYCLES),
            "--seed",
            "14",
            "--fault-count",
            str(len(FAULTS)),
            "--fault-gap",
            "1,2",
            "--max-broker-pause-s",
            "3",
            "--max-postgres-down-s",
            "2",
            "--duplicates",
            "50",
            "--step-timeout-s",
            "180",
            "--settle-timeout-s",
            "180",
            "--var-dir",
            str(var),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    results = json.loads((var / "chaos.json").read_text()) if (var / "chaos.json").exists() else {}
    return done, results


def test_every_check_of_the_run_passed(chaos):
    done, results = chaos
    assert done.returncode == 0, done.stdout + done.stderr[-5000:]
    assert results["passed"], [c for c in results["checks"] if not c["passed"]]
    assert "verdict: PASSED" in done.stdout


def test_the_table_has_each_section(chaos):
    done, _ = chaos
    for section in SECTIONS:
        assert section in done.stdout, done.stdout


def test_every_kind_of_lifecycle_and_of_fault_was_there(chaos):
    _, results = chaos
    assert results["lifecycles"]["done"] == results["lifecycles"]["intended"] == LIFECYCLES
    assert {k for k, v in results["lifecycles"]["by_kind"].items() if v["done"]} == set(Kind)
    assert results["faults_by_kind"] == {kind: 1 for kind in FAULTS}
    assert sum(results["restarts"].values()) >= 1
    assert sum(f["records"] for f in results["faults"] if f["kind"] == "duplicates") > 0
    assert results["money_difference"] == {"IRR": 0}
    assert results["dead_letters"] == {}
    assert results["recovery_s"] is not None


def test_the_harness_signs_callbacks_again_as_the_sandbox_does():
    assert SANDBOX_SECRET == DEV_SECRET


def test_the_suite_was_stopped(chaos):
    _, results = chaos
    pids = {**results["meta"]["pids"], **results["meta"]["pids_at_end"]}
    for name, pid in pids.items():
        assert not _alive(pid), f"{name} ({pid}) still runs"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
