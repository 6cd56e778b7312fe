"""The acceptance of issue 14, judged from a finished run: every lifecycle ended as planned, the
books close to 0 in every currency (`escrowctl reconcile` too), every ledger balances, the
suite caught up (no lag, no outbox backlog, nothing quarantined) and nothing was dead-lettered."""

from __future__ import annotations

from shared.chaos.run import Run
from shared.fuzz.checks import Check


def evaluate(run: Run) -> list[Check]:
    return [
        _lifecycles(run),
        _books(run),
        _reconcile_cli(run),
        _ledgers(run),
        _caught_up(run),
        _dead_letters(run),
    ]


def _lifecycles(run: Run) -> Check:
    wrong = [o for o in run.outcomes if not o.done]
    detail = "; ".join(
        f"{o.plan.name} ({o.plan.kind}): {o.stuck or ', '.join(o.wrong)}" for o in wrong[:10]
    )
    done = len(run.outcomes) - len(wrong)
    return Check(
        "every lifecycle reached its intended final state and amounts (read APIs)",
        bool(run.outcomes) and not wrong,
        detail or f"{done} of {len(run.outcomes)}",
    )


def _books(run: Run) -> Check:
    books = run.books.books if run.books else []
    problems = run.books.problems if run.books else ["not read"]
    return Check(
        "the books close: difference 0 in every currency, both services agree",
        bool(books) and not problems,
        "; ".join(problems) or ", ".join(f"{b.currency} {b.difference:+,}" for b in books),
    )


def _reconcile_cli(run: Run) -> Check:
    return Check(
        "`escrowctl reconcile` exits 0",
        run.reconcile_exit == 0,
        f"exit {run.reconcile_exit}"
        + ("" if run.reconcile_exit == 0 else f": {run.reconcile_output[-500:]}"),
    )


def _ledgers(run: Run) -> Check:
    off = {k: v for k, v in run.ledger_sums.items() if v}
    return Check(
        "every ledger balances (each currency's accounts sum to 0, no unbalanced transaction, "
        "no drifted running balance)",
        bool(run.ledger_sums) and not off,
        ", ".join(f"{k} {v:+,}" for k, v in off.items()) or "all 0",
    )


def _caught_up(run: Run) -> Check:
    reading = run.last_reading
    quarantined = sum(reading.quarantined.values()) if reading else 0
    return Check(
        "the suite caught up: no consumer lag, outboxes drained, nothing quarantined",
        run.caught_up and quarantined == 0,
        "lag 0, backlog 0"
        if run.caught_up and not quarantined
        else (
            f"{run.stalled}: " + "; ".join(reading.lagging() if reading else ["never read"])
            if not run.caught_up
            else f"{quarantined} outbox rows quarantined"
        ),
    )


def _dead_letters(run: Run) -> Check:
    total = sum(run.dead_letters.values())
    return Check(
        "no dead letters (every .dlq topic empty)",
        total == 0,
        ", ".join(f"{t} {n}" for t, n in run.dead_letters.items()) or "none",
    )
