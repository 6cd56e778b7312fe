"""What one fuzz run does: how many records, from which seed, and the bounds of its checks."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Options:
    var_dir: Path = Path("var/fuzz")
    records: int = 100_000
    seed: int = 12
    #: records sent and not yet acknowledged by the broker, at most
    in_flight: int = 256
    #: a stall: the work left (lag, outbox backlog) falls no lower for this long
    stall_s: float = 180.0
    #: the longest the suite may take to catch up once every record is sent, progress or not
    drain_timeout_s: float = 3600.0
    #: every service must answer within this (the issue's "within a second")
    answer_bound_s: float = 1.0
    #: how long one probe waits for its answer before it counts as unanswered
    probe_timeout_s: float = 30.0
    probe_rounds: int = 3
    #: each service's RSS after the run must be under this
    rss_limit_mb: float = 200.0
    #: share of records carrying a string of 100 KB up to `huge_max` bytes
    huge_share: float = 0.005
    huge_max: int = 900_000
    #: whole lifecycles, and escrows left funded, before fuzzing: money in the books
    released: int = 2
    funded: int = 2
    #: how often lag is read while producing and draining
    lag_interval_s: float = 2.0
    #: after the last check, before the final RSS reading
    settle_s: float = 5.0


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m shared.fuzz",
        description="Fuzz every consumed topic of the suite as `make run` ships it; print a "
        "table of what was sent, dead-lettered and answered, and of the checks.",
    )
    parser.add_argument("--records", type=int, default=Options.records, help="records to send")
    parser.add_argument("--seed", type=int, default=Options.seed, help="seed of every choice")
    parser.add_argument("--var-dir", type=Path, default=Options.var_dir, help="state, fuzz.json")
    parser.add_argument(
        "--answer-bound",
        type=float,
        default=Options.answer_bound_s,
        help="seconds within which every service must answer (default 1)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=Options.drain_timeout_s,
        help="seconds the suite may take to catch up after the last record (default 3600)",
    )
    parser.add_argument(
        "--stall-after",
        type=float,
        default=Options.stall_s,
        help="seconds without progress (lag and outbox backlog never lower) that make a stall "
        "(default 180)",
    )
    parser.add_argument("--huge-share", type=float, default=Options.huge_share)
    parser.add_argument("--rss-limit-mb", type=float, default=Options.rss_limit_mb)
    args = parser.parse_args(argv)
    if args.records < 1:
        parser.error("--records is at least 1")
    if not 0 <= args.huge_share <= 1:
        parser.error("--huge-share is between 0 and 1")
    return Options(
        var_dir=args.var_dir,
        records=args.records,
        seed=args.seed,
        answer_bound_s=args.answer_bound,
        drain_timeout_s=args.drain_timeout,
        stall_s=args.stall_after,
        huge_share=args.huge_share,
        rss_limit_mb=args.rss_limit_mb,
    )
