"""`python -m shared.chaos [--lifecycles N] [--in-flight N] [--faults a,b] [--seed S]
[--fault-count N] [--max-broker-pause-s S] [--replicas N] [--var-dir D]`: start the suite,
play the lifecycles under faults, print one table, write `<var dir>/chaos.json`, stop the suite
(also on Ctrl-C, SIGTERM or an error); exit 1 when a check failed."""

from __future__ import annotations

import sys

from shared.bench.harness import run_on_the_suite
from shared.chaos.checks import evaluate
from shared.chaos.options import parse
from shared.chaos.report import as_json, render
from shared.chaos.run import chaos


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_on_the_suite(
        "chaos",
        options.var_dir,
        options.replicas,
        lambda suite, say: chaos(suite, options, say),
        evaluate,
        as_json,
        render,
    )


if __name__ == "__main__":
    sys.exit(main())
