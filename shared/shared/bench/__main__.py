"""`python -m shared.bench [--quick] [--only a,b,c,d,e] [--duration S] [--var-dir D]
[--replicas N]`: start the suite, measure, print one table, write `<var dir>/bench.json`, stop
the suite (also on Ctrl-C, SIGTERM or an error)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType

from shared.bench.options import Options, parse
from shared.bench.report import render, targets
from shared.bench.results import Results
from shared.bench.run import SuiteFailed, bench
from shared.bench.suite import NotABenchDirectory, describe, prepare_var_dir, start
from shared.devstack.stack import SuiteStack


def say(line: str) -> None:
    print(f"bench | {line}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM while the suite starts: as Ctrl-C (the measuring loop cancels itself instead)."""
    raise KeyboardInterrupt(f"signal {signum}")


def _stop(stack: SuiteStack) -> None:
    """Stop the suite, deaf to further signals so that it stops whole (every wait is bounded)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    say("stopping the suite")
    stack.stop()


def header(options: Options, results: Results, wall_s: float) -> list[str]:
    meta = results.meta
    return [
        f"escrow suite benchmark   {meta.get('started')}   {meta.get('cpus')} cores   "
        f"replicas {options.replicas}   {'quick' if options.quick else 'full'}   "
        f"{options.duration:g} s per step   run {wall_s:.0f} s",
        "the suite as `make run` ships it (fsync on, default intervals), "
        f"var dir {meta.get('var_dir')}",
        f"machine load (1, 5, 15 min) at start {meta.get('load_average_at_start')}, "
        f"at end {meta.get('load_average_at_end')}: other work on the machine skews every figure",
    ]


def report(results: Results, options: Options, var_dir: Path, wall_s: float) -> None:
    """Write `bench.json`, print the table."""
    results.meta["wall_s_before_stop"] = round(wall_s, 1)
    found = [t.as_json() for t in targets(results)]
    (var_dir / "bench.json").write_text(json.dumps(results.as_json(found), indent=2) + "\n")
    print(render(results, header(options, results, wall_s)), flush=True)
    say(f"results written to {var_dir / 'bench.json'}")


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    warnings.filterwarnings("ignore", module="platformdirs")
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    try:
        var_dir = prepare_var_dir(options.var_dir)
    except NotABenchDirectory as exc:
        say(str(exc))
        return 2
    stack = None
    try:
        say(f"starting the suite in {var_dir}")
        stack = start(var_dir, options.replicas, lambda line: say(f"suite  {line}"))
        results = asyncio.run(bench(describe(stack), options, say))
        report(results, options, var_dir, time.perf_counter() - started)
        return 0
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    except SuiteFailed as exc:
        say(f"failed: {exc}")
        return 1
    finally:
        if stack is not None:
            _stop(stack)
            say(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
