"""`python -m shared.fuzz [--records N] [--seed S] [--var-dir D] [--answer-bound S]
[--drain-timeout S]`: start the suite, fuzz it, print one table, write `<var dir>/fuzz.json`,
stop the suite (also on Ctrl-C, SIGTERM or an error); exit 1 when a check failed."""

from __future__ import annotations

import sys

from shared.bench.harness import run_on_the_suite
from shared.fuzz.checks import evaluate
from shared.fuzz.options import parse
from shared.fuzz.report import as_json, render
from shared.fuzz.run import fuzz


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    return run_on_the_suite(
        "fuzz",
        options.var_dir,
        1,
        lambda suite, say: fuzz(suite, options, say),
        evaluate,
        as_json,
        render,
    )


if __name__ == "__main__":
    sys.exit(main())
