"""The acceptance of issue 12, judged from a finished run: no stall, no crash, no money moved,
every service answering within the bound, each service's RSS back under the limit — and what the
wire contract promises for bad input (DESIGN.md §8): every unreadable record dead-lettered, with
its headers, by every service that consumes its topic, and every command answered."""

from __future__ import annotations

from dataclasses import dataclass

from shared.bench.resources import MB
from shared.fuzz.money import differences
from shared.fuzz.run import Run


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


def evaluate(run: Run) -> list[Check]:
    o = run.options
    found = [
        _produced(run),
        Check(
            f"no stall: every consumer group caught up (progress at least every {o.stall_s:g} s,"
            f" all within {o.drain_timeout_s:g} s)",
            run.caught_up,
            f"in {run.drain_s} s after the last record (most behind: {run.max_lag:,})"
            if run.caught_up
            else f"{run.stalled}: "
            + "; ".join(run.last_reading.lagging() if run.last_reading else ["never read"]),
        ),
        Check(
            "no crash: every service process alive throughout",
            not run.crashed,
            ", ".join(run.crashed) or "all alive",
        ),
        _answers_within(run),
        _money(run),
        _rss(run),
        *_dead_letters(run),
        _commands_answered(run),
    ]
    return found


def _produced(run: Run) -> Check:
    tally = run.tally
    if tally is None:
        return Check("every record produced", False, "nothing was sent")
    errors = ", ".join(f"{k} ×{n}" for k, n in tally.send_errors.most_common(5))
    return Check(
        "every record produced",
        tally.records == run.options.records and not tally.send_errors,
        errors or f"{tally.records:,} records, {tally.bytes_sent / MB:,.0f} MB",
    )


def _answers_within(run: Run) -> Check:
    bound = run.options.answer_bound_s
    slow = [
        f"{p.service} {p.what}: {'unanswered' if p.slowest is None else f'{p.slowest:.3f} s'}"
        for p in run.probes
        if not p.within(bound)
    ]
    seen = {p.service for p in run.probes}
    missing = [s for s in run.services if s not in seen]
    return Check(
        f"every service answers within {bound:g} s (health and a signed command, slowest of "
        f"{run.options.probe_rounds})",
        bool(run.probes) and not slow and not missing,
        "; ".join(slow + [f"{s}: not probed" for s in missing]) or "all within",
    )


def _money(run: Run) -> Check:
    moved = differences(run.money_before, run.money_after)
    problems = [
        f"{when}: {p}"
        for when, books in (("before", run.books_before), ("after", run.books_after))
        for p in (books.problems if books else ["not read"])
    ]
    return Check(
        "no money moved (ledgers, balances, held, escrows, payouts, refunds) and the books "
        "reconcile",
        bool(run.money_before) and not moved and not problems,
        "; ".join(moved[:10] + problems) or f"{len(run.money_before)} figures unchanged",
    )


def _rss(run: Run) -> Check:
    limit = run.options.rss_limit_mb
    over = [
        f"{s} {run.rss_final.get(s, 0) / MB:.0f} MB"
        for s in run.services
        if run.rss_final.get(s, 0) / MB >= limit
    ]
    return Check(
        f"each service's RSS after the run under {limit:g} MB",
        bool(run.rss_final) and not over,
        ", ".join(over) or "all under",
    )


def _dead_letters(run: Run) -> list[Check]:
    outcomes, tally = run.outcomes, run.tally
    if outcomes is None or tally is None:
        return [Check("dead letters read", False, "not read")]
    got = outcomes.by_reason()
    short = [
        f"{topic} {reason}: {got[(topic, reason)]} of {due}"
        for (topic, reason), due in sorted(tally.dead_letters_due.items())
        if got[(topic, reason)] < due
    ]
    missing = ", ".join(f"{h} ×{n}" for h, n in outcomes.missing_headers.items())
    return [
        Check(
            "every unreadable record dead-lettered by each service consuming its topic",
            not short,
            "; ".join(short[:10]) or f"{tally.dead_letters_due.total():,} owed, all there",
        ),
        Check(
            "every dead letter carries its headers and fits the limit",
            not outcomes.missing_headers and not outcomes.oversized,
            missing
            or (f"{outcomes.oversized} over the limit" if outcomes.oversized else "")
            or f"largest {outcomes.largest:,} bytes, {outcomes.truncated:,} cut to fit",
        ),
    ]


def _commands_answered(run: Run) -> Check:
    outcomes, tally = run.outcomes, run.tally
    if outcomes is None or tally is None:
        return Check("every command answered", False, "not read")
    unanswered = len(tally.answers_due - set(outcomes.answers))
    return Check(
        "every fuzzed command answered (a CommandResult per readable command)",
        unanswered == 0,
        f"{unanswered:,} of {len(tally.answers_due):,} unanswered"
        if unanswered
        else f"{len(tally.answers_due):,} answered",
    )
