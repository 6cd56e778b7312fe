"""What one chaos run does: how many lifecycles, which faults from which seed, and its bounds."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

#: kill -9 of a service process, SIGSTOP of the broker, `pg_ctl stop -m immediate`, records
#: of the event topics published again
FAULTS = ("kill", "broker-pause", "postgres", "duplicates")


@dataclass(frozen=True)
class Options:
    var_dir: Path = Path("var/chaos")
    lifecycles: int = 1000
    in_flight: int = 32
    faults: tuple[str, ...] = FAULTS
    seed: int = 14
    #: faults injected in all; None: one after another until every lifecycle has ended
    fault_count: int | None = None
    #: the pause between two faults is drawn from this range (seconds)
    fault_gap_s: tuple[float, float] = (5.0, 20.0)
    max_broker_pause_s: float = 90.0
    #: how long PostgreSQL stays down, at most (drawn from 1 s up to this)
    max_postgres_down_s: float = 20.0
    #: records of the event topics copied back onto them at each duplicates fault
    duplicates: int = 200
    #: processes of each service; with 2, a kill takes one replica and the other carries on
    replicas: int = 1
    #: a command not answered within this is sent again under its id (same body)
    resend_after_s: float = 30.0
    #: the longest one step of a lifecycle may wait (an answer, a state) before it is stuck
    step_timeout_s: float = 600.0
    #: after the last lifecycle, how long the suite may take to catch up (lag, outboxes)
    settle_timeout_s: float = 300.0


def _pair(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    found = (float(low), float(high or low))
    if not 0 <= found[0] <= found[1]:
        raise argparse.ArgumentTypeError("takes MIN,MAX seconds with 0 <= MIN <= MAX")
    return found


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m shared.chaos",
        description="Run mixed escrow lifecycles against the suite as `make run` ships it while "
        "injecting faults; check every lifecycle ended as intended and the books are exact.",
    )
    parser.add_argument("--lifecycles", type=int, default=Options.lifecycles)
    parser.add_argument("--in-flight", type=int, default=Options.in_flight)
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"kinds to inject, comma-separated, of {','.join(FAULTS)} ('' for none)",
    )
    parser.add_argument("--seed", type=int, default=Options.seed, help="seed of every choice")
    parser.add_argument(
        "--fault-count",
        type=int,
        help="faults in all (each round of kinds in a random order); default: until every "
        "lifecycle has ended",
    )
    parser.add_argument(
        "--fault-gap", type=_pair, default=Options.fault_gap_s, help="MIN,MAX s between faults"
    )
    parser.add_argument("--max-broker-pause-s", type=float, default=Options.max_broker_pause_s)
    parser.add_argument("--max-postgres-down-s", type=float, default=Options.max_postgres_down_s)
    parser.add_argument("--duplicates", type=int, default=Options.duplicates)
    parser.add_argument("--replicas", type=int, default=Options.replicas)
    parser.add_argument("--resend-after-s", type=float, default=Options.resend_after_s)
    parser.add_argument("--step-timeout-s", type=float, default=Options.step_timeout_s)
    parser.add_argument("--settle-timeout-s", type=float, default=Options.settle_timeout_s)
    parser.add_argument("--var-dir", type=Path, default=Options.var_dir, help="state, chaos.json")
    args = parser.parse_args(argv)
    faults = tuple(f.strip() for f in str(args.faults).split(",") if f.strip())
    if unknown := set(faults) - set(FAULTS):
        parser.error(f"unknown fault(s) {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
    if args.lifecycles < 1 or args.in_flight < 1 or args.replicas < 1:
        parser.error("--lifecycles, --in-flight and --replicas are at least 1")
    if args.fault_count is not None and args.fault_count < 0:
        parser.error("--fault-count is at least 0")
    return Options(
        var_dir=args.var_dir,
        lifecycles=args.lifecycles,
        in_flight=args.in_flight,
        faults=faults,
        seed=args.seed,
        fault_count=args.fault_count,
        fault_gap_s=args.fault_gap,
        max_broker_pause_s=args.max_broker_pause_s,
        max_postgres_down_s=args.max_postgres_down_s,
        duplicates=args.duplicates,
        replicas=args.replicas,
        resend_after_s=args.resend_after_s,
        step_timeout_s=args.step_timeout_s,
        settle_timeout_s=args.settle_timeout_s,
    )
