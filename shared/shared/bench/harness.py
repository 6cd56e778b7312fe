"""What `make fuzz` and `make chaos` do around their run, written once: prepare the tool's var
directory, start the suite as shipped, play the run, judge it, print one table, write
`<var dir>/<tool>.json`, and stop the suite whatever happens (Ctrl-C, SIGTERM, an error)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import warnings
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

from shared.bench.suite import NotABenchDirectory, Suite, describe, prepare_var_dir, start
from shared.devstack.stack import SuiteStack

R = TypeVar("R")
Say = Callable[[str], None]


class SuiteFailed(RuntimeError):
    """The suite could not be brought to a state to run against (it did not warm up, a process
    of it exited); the run ends with exit status 1."""


class Check(Protocol):
    @property
    def passed(self) -> bool: ...


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


async def _cancelled_on_sigterm(run: Coroutine[Any, Any, R]) -> R:
    """`run`, cancelled by SIGTERM (so every client it opened is closed on the way out)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run


def run_on_the_suite(
    tool: str,
    var_dir: Path,
    replicas: int,
    play: Callable[[Suite, Say], Coroutine[Any, Any, R]],
    judge: Callable[[R], Sequence[Check]],
    as_json: Callable[[R, Any], dict[str, Any]],
    render: Callable[[R, Any], str],
) -> int:
    """Run `play` against a freshly started suite; 0 when every check `judge` makes passed,
    1 when one failed or the suite failed, 2 when the var directory is someone else's, 130 when
    interrupted."""

    def say(line: str) -> None:
        print(f"{tool} | {line}", file=sys.stderr, flush=True)

    warnings.filterwarnings("ignore", module="platformdirs")
    signal.signal(signal.SIGTERM, _terminate)
    started = time.perf_counter()
    try:
        var_dir = prepare_var_dir(
            var_dir, marker=f".escrow-{tool}", made_by=f"python -m shared.{tool}"
        )
    except NotABenchDirectory as exc:
        say(str(exc))
        return 2
    stack: SuiteStack | None = None
    try:
        say(f"starting the suite in {var_dir}")
        stack = start(var_dir, replicas, lambda line: say(f"suite  {line}"))
        run: R = asyncio.run(_cancelled_on_sigterm(play(describe(stack), say)))
        checks = judge(run)
        (var_dir / f"{tool}.json").write_text(json.dumps(as_json(run, checks), indent=2) + "\n")
        print(render(run, checks), flush=True)
        say(f"results written to {var_dir / f'{tool}.json'}")
        return 0 if all(c.passed for c in checks) else 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted")
        return 130
    except SuiteFailed as exc:
        say(f"failed: {exc}")
        return 1
    finally:
        if stack is not None:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
            say("stopping the suite")
            stack.stop()
            say(f"done in {time.perf_counter() - started:.0f} s")
