"""`make bench` as a smoke test: `python -m shared.bench --quick` starts its own suite, prints
every section of its table and answers every command. Nothing here is about speed: the run must
pass on a busy machine, so no figure is compared with any threshold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(170)]

SECTIONS = (
    "(e) floor",
    "(a) escrow alone, closed loop",
    "(b) full lifecycles",
    "(c) escrow alone, open loop",
    "(d) CPU per unit of work and peak RSS",
    "targets",
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    var = tmp_path_factory.mktemp("bench") / "var"
    done = subprocess.run(
        [sys.executable, "-m", "shared.bench", "--quick", "--profile", "--var-dir", str(var)],
        capture_output=True,
        text=True,
        timeout=160,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads((var / "bench.json").read_text()), var


def test_the_table_has_every_section(bench):
    table, _, _ = bench
    for section in SECTIONS:
        assert section in table, table
    for figure in ("commands/s", "lifecycles/s", "escrow operations/s", "achieved/s", "× floor"):
        assert figure in table, table
    assert "peak RSS of each service" in table


def test_every_closed_loop_command_got_its_result(bench):
    _, results, _ = bench
    levels = results["closed_loop"]
    assert [level["in_flight"] for level in levels] == [1, 8, 64, 256]
    for level in levels:
        assert level["sent"] > 0
        assert level["answered"] == level["sent"]
        assert level["accepted"] == level["sent"], level
        assert level["unanswered"] == 0
        assert level["latency_ms"]["p50"] is not None


def test_lifecycles_complete_and_the_open_loop_is_answered(bench):
    _, results, _ = bench
    assert results["lifecycles"]
    for level in results["lifecycles"]:
        assert level["completed"] > 0
        # a refusal is a bug; a timeout on a very busy machine is not this test's business
        assert not [reason for reason in level["failed"] if "rejected" in reason], level
        assert set(level["stage_latency_ms"]) >= {"open", "fund", "credit", "total"}
    assert results["open_loop"]
    for step in results["open_loop"]:
        assert step["sent"] > 0
        assert step["answered"] > 0


def test_the_floor_and_the_resources_were_measured(bench):
    _, results, _ = bench
    floor = results["floor"]
    for figure in (
        "commits_per_s_1",
        "commits_per_s_8",
        "produce_msgs_per_s",
        "consume_msgs_per_s",
        "round_trip_p50_ms",
    ):
        assert floor[figure] and floor[figure] > 0, figure
    resources = results["resources"]
    assert set(resources["services"]) == {"escrow", "payments", "disputes", "notifications"}
    for name in (*resources["services"], "postgresql", "tansu", "sandbox", "mail", "bench"):
        assert resources["peak_rss_mb"][name] > 0, name
    assert resources["phases"]
    assert {target["target"] for target in results["targets"]}
    assert all(target["met"] in (True, False, None) for target in results["targets"])


def test_the_busiest_steps_were_profiled_or_the_table_says_why_not(bench):
    table, results, _ = bench
    if results["profile_errors"]:  # py-spy may not trace where ptrace is not allowed
        assert "not profiled: " in table
        return
    escrow = [p for p in results["profiles"] if p["process"] == "escrow"]
    assert {p["step"] for p in escrow} == {"a 256 in flight", "b 8 in flight"}
    busiest = next(p for p in escrow if p["step"].startswith("a"))
    assert busiest["samples"] > 0 and Path(busiest["stacks"]).exists()
    assert "suite:shared" in busiest["total_by_area"]  # the runtime was on the stack
    assert "profile (py-spy" in table


def test_the_suite_was_stopped(bench):
    _, results, var = bench
    for name, pid in results["meta"]["pids"].items():
        assert not _alive(pid), f"{name} ({pid}) still runs"
    assert (var / ".escrow-bench").exists()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
