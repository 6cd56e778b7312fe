"""What one run measures: the sections, their levels, durations and bounds (full or `--quick`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

SECTIONS = ("a", "b", "c", "d", "e")
#: the floor is the denominator of every ratio: it is measured whenever a, b or c is
NEEDS_FLOOR = frozenset("abc")


@dataclass(frozen=True)
class Options:
    var_dir: Path = Path("var/bench")
    sections: frozenset[str] = frozenset(SECTIONS)
    replicas: int = 1
    quick: bool = False
    #: seconds of each measured step (a level, a rate, a floor measurement)
    duration: float = 5.0
    closed_levels: tuple[int, ...] = (1, 8, 64, 256)
    lifecycle_levels: tuple[int, ...] = (1, 16, 64)
    open_rates: tuple[int, ...] = (100, 250, 500, 1000, 2000)
    #: after an open-loop step, how long answers may still come before they count as unanswered;
    #: after any step, how long the bench waits for answers it gave up on (the suite's backlog)
    #: before the next step
    drain_s: float = 30.0
    #: the longest wait for one answer (a command's result, an event, a credited wallet)
    answer_timeout_s: float = 30.0
    #: how long a lifecycle step may outlast its duration before its lifecycles are given up
    lifecycle_cap_s: float = 60.0
    #: bounds of the floor: messages produced (then consumed), round trips
    floor_messages: int = 50_000
    floor_round_trips: int = 300
    #: after a step, wait up to this long for the suite to go idle before reading CPU counters
    settle_s: float = 10.0
    warmup_commands: int = 50
    warmup_lifecycles: int = 3
    #: consumer's fetch wait (ms): how long an idle fetch may block at the broker
    fetch_max_wait_ms: int = 10
    #: sample every service with py-spy during the busiest step of (a) and (b)
    profile: bool = False

    def wants(self, section: str) -> bool:
        return section in self.sections


def quick(options: Options) -> Options:
    """Tiny counts and durations: the whole run in about a minute, for a smoke test."""
    return replace(
        options,
        quick=True,
        duration=1.0,
        lifecycle_levels=(1, 8),
        open_rates=(100, 250),
        drain_s=5.0,
        answer_timeout_s=20.0,
        lifecycle_cap_s=30.0,
        floor_messages=5_000,
        floor_round_trips=50,
        settle_s=2.0,
        warmup_commands=20,
        warmup_lifecycles=1,
    )


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m shared.bench",
        description="Benchmark the whole suite as `make run` ships it; print one table.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts and durations (smoke)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="sections to run, comma-separated: a closed loop, b lifecycles, c open loop, "
        "d CPU and memory, e floor (always measured with a, b or c: it is every ratio's base)",
    )
    parser.add_argument("--duration", type=float, help="seconds of each measured step")
    parser.add_argument("--var-dir", type=Path, help="state and bench.json (default var/bench)")
    parser.add_argument("--replicas", type=int, default=1, help="processes of each service")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample every service with py-spy during the busiest step of a and b "
        "(stacks in the var dir, shares by library in the table)",
    )
    args = parser.parse_args(argv)
    return _options(parser, args)


def _options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Options:
    sections = frozenset(s.strip() for s in str(args.only).split(",") if s.strip())
    if not sections or not sections <= set(SECTIONS):
        parser.error(f"--only takes some of {','.join(SECTIONS)}")
    if sections == {"d"}:
        parser.error("d is measured during the other sections: name some of a, b, c, e too")
    if sections & NEEDS_FLOOR:
        sections |= {"e"}
    if args.replicas < 1:
        parser.error("--replicas is at least 1")
    options = Options(sections=sections, replicas=args.replicas, profile=args.profile)
    if args.quick:
        options = quick(options)
    if args.duration is not None:
        if args.duration <= 0:
            parser.error("--duration is positive")
        options = replace(options, duration=args.duration)
    if args.var_dir is not None:
        options = replace(options, var_dir=args.var_dir)
    return options
