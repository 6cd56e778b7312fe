"""`python -m shared.fuzz [--records N] [--seed S] [--var-dir D] [--answer-bound S]
[--drain-timeout S]`: start the suite, fuzz it, print one table, write `<var dir>/fuzz.json`,
stop the suite (also on Ctrl-C, SIGTERM or an error); exit 1 when a check failed."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import warnings
from types import FrameType

from shared.bench.suite import NotABenchDirectory, describe, prepare_var_dir, start
from shared.devstack.stack import SuiteStack
from shared.fuzz.checks import evaluate
from shared.fuzz.options import parse
from shared.fuzz.report import as_json, render
from shared.fuzz.run import SuiteFailed, fuzz

MARKER = ".escrow-fuzz"


def say(line: str) -> None:
    print(f"fuzz | {line}", file=sys.stderr, flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop(stack: SuiteStack) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    say("stopping the suite")
    stack.stop()


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    warnings.filterwarnings("ignore", module="platformdirs")
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    try:
        var_dir = prepare_var_dir(options.var_dir, marker=MARKER, made_by="python -m shared.fuzz")
    except NotABenchDirectory as exc:
        say(str(exc))
        return 2
    stack = None
    try:
        say(f"starting the suite in {var_dir}")
        stack = start(var_dir, 1, lambda line: say(f"suite  {line}"))
        run = asyncio.run(fuzz(describe(stack), options, say))
        checks = evaluate(run)
        (var_dir / "fuzz.json").write_text(json.dumps(as_json(run, checks), indent=2) + "\n")
        print(render(run, checks), flush=True)
        say(f"results written to {var_dir / 'fuzz.json'}")
        return 0 if all(c.passed for c in checks) else 1
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
