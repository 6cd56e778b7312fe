"""The run as one table (what was sent, dead-lettered and answered, memory, lag, probes, money,
the checks) and as JSON (`<var dir>/fuzz.json`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.bench.resources import BENCH, MB
from shared.cli.reconcile import table as books_table
from shared.fuzz.checks import Check
from shared.fuzz.records import CATEGORIES
from shared.fuzz.run import Run

FUZZER = "fuzzer"


def render(run: Run, checks: list[Check]) -> str:
    lines = _header(run)
    lines += _sent(run)
    lines += _dead_letters(run)
    lines += _answers(run)
    lines += _memory(run)
    lines += _probes(run)
    lines += _money(run)
    lines += ["", "checks"]
    lines += [f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in checks]
    verdict = "PASSED" if all(c.passed for c in checks) else "FAILED"
    lines += ["", f"verdict: {verdict} ({sum(c.passed for c in checks)} of {len(checks)} checks)"]
    return "\n".join(lines)


def _header(run: Run) -> list[str]:
    m = run.meta
    return [
        f"escrow suite fuzz   {m.get('started')}   {m.get('cpus')} cores   seed {m.get('seed')}"
        f"   {m.get('records'):,} records   run {m.get('wall_s')} s",
        f"the suite as `make run` ships it, var dir {m.get('var_dir')}; machine load at start "
        f"{m.get('load_average_at_start')}, at end {m.get('load_average_at_end')}",
    ]


def _sent(run: Run) -> list[str]:
    tally, topics = run.tally, run.topics
    if tally is None or topics is None:
        return ["", "nothing was sent"]
    cats = list(CATEGORIES)
    legend = ", ".join(f"{k} {v}" for k, v in CATEGORIES.items())
    lines = [
        "",
        f"records sent, by topic and category ({legend})",
        f"  {'topic':<26}{'consumed by':<34}" + "".join(f"{c:>7}" for c in cats) + f"{'total':>8}",
    ]
    for topic in topics.names:
        row = [tally.sent[(topic, c)] for c in cats]
        who = ",".join(topics.consumers[topic]) + (" $" if topics.is_money_topic(topic) else "")
        lines.append(
            f"  {topic:<26}{who:<34}" + "".join(f"{n:>7,}" for n in row) + f"{sum(row):>8,}"
        )
    totals = [sum(tally.sent[(t, c)] for t in topics.names) for c in cats]
    lines.append(f"  {'total':<60}" + "".join(f"{n:>7,}" for n in totals) + f"{sum(totals):>8,}")
    lines.append(
        "  $ money topic: only events validation refuses are sent there.  "
        f"{tally.bytes_sent / MB:,.0f} MB in {tally.elapsed_s:.0f} s, "
        f"largest record {tally.largest:,} bytes"
    )
    for category in cats:
        kinds = sorted(((n, k) for (c, k), n in tally.kinds.items() if c == category), reverse=True)
        text = ", ".join(f"{k} {n:,}" for n, k in kinds[:14])
        more = f", … {len(kinds) - 14} more kinds" if len(kinds) > 14 else ""
        lines.append(f"  ({category}) {text}{more}")
    return lines


def _dead_letters(run: Run) -> list[str]:
    outcomes, tally = run.outcomes, run.tally
    if outcomes is None or tally is None:
        return ["", "dead letters: not read"]
    by_reason: Counter[str] = Counter()
    by_service: Counter[tuple[str, str]] = Counter()
    for (_, reason, service), n in outcomes.dead_letters.items():
        by_reason[reason] += n
        by_service[(reason, service)] += n
    due: Counter[str] = Counter()
    for (_, reason), n in tally.dead_letters_due.items():
        due[reason] += n
    services = sorted({s for _, s in by_service})
    lines = [
        "",
        f"dead letters by reason ({outcomes.dead_letters.total():,} on "
        f"{len({t for t, _, _ in outcomes.dead_letters})} dlq topics; owed = records × services "
        "consuming the topic)",
        f"  {'reason':<16}{'got':>9}{'owed':>9}" + "".join(f"{s:>15}" for s in services),
    ]
    for reason in sorted(set(by_reason) | set(due)):
        per = "".join(f"{by_service[(reason, s)]:>15,}" for s in services)
        lines.append(f"  {reason:<16}{by_reason[reason]:>9,}{due[reason]:>9,}{per}")
    got = outcomes.by_reason()
    topics = sorted({t for t, _ in got} | {t for t, _ in tally.dead_letters_due})
    lines.append(
        "  by topic (got/owed): "
        + "; ".join(
            f"{t} "
            + " ".join(
                f"{r} {got[(t, r)]}/{tally.dead_letters_due[(t, r)]}"
                for r in sorted(
                    {r for tt, r in got if tt == t}
                    | {r for tt, r in tally.dead_letters_due if tt == t}
                )
            )
            for t in topics
        )
    )
    return lines


def _answers(run: Run) -> list[str]:
    outcomes, tally = run.outcomes, run.tally
    if outcomes is None or tally is None:
        return []
    reasons: Counter[str] = Counter()
    extra = 0
    for answers in outcomes.answers.values():
        extra += len(answers) - 1
        status, reason = answers[0]
        reasons[f"{status} {reason}".strip()] += 1
    text = ", ".join(f"{r} {n:,}" for r, n in reasons.most_common())
    return [
        "",
        f"command answers: {len(outcomes.answers):,} of {len(tally.answers_due):,} readable "
        f"commands answered ({extra:,} answered more than once): {text}",
    ]


def _memory(run: Run) -> list[str]:
    names = [*run.services, "postgresql", "tansu", BENCH]
    lines = [
        "",
        f"RSS (MB; sampled every second; limit {run.options.rss_limit_mb:g} for a service)",
        f"  {'process':<16}{'before':>9}{'peak':>9}{'final':>9}",
    ]
    for name in names:
        label = FUZZER if name == BENCH else name
        figures = [run.rss_before.get(name), run.rss_peak.get(name), run.rss_final.get(name)]
        lines.append(f"  {label:<16}" + "".join(f"{(f or 0) / MB:>9.0f}" for f in figures))
    drained = f"{run.drain_s} s" if run.caught_up else f"never ({run.stalled})"
    lines.append(
        f"lag: at most {run.max_lag:,} records behind; caught up {drained} after the last record"
    )
    if run.last_reading and any(run.last_reading.quarantined.values()):
        lines.append(f"quarantined outbox rows: {run.last_reading.quarantined}")
    return lines


def _probes(run: Run) -> list[str]:
    lines = ["", "probes (seconds of each round)"]
    for p in run.probes:
        seconds = ", ".join("—" if s is None else f"{s:.3f}" for s in p.seconds)
        answers = ", ".join(sorted(set(p.answers))) or "—"
        lines.append(f"  {p.service:<14}{p.what:<38}{seconds:<26}{answers}")
    return lines


def _money(run: Run) -> list[str]:
    lines = ["", f"money: {len(run.money_before)} figures read before and after"]
    if run.books_after:
        lines += ["  " + line for line in books_table(run.books_after.books).splitlines()]
    return lines


def as_json(run: Run, checks: list[Check]) -> dict[str, Any]:
    tally, outcomes = run.tally, run.outcomes
    return {
        "meta": run.meta,
        "passed": all(c.passed for c in checks),
        "checks": [c.as_json() for c in checks],
        "topics": run.topics.consumers if run.topics else {},
        "money_topics": [t for t in run.topics.names if run.topics.is_money_topic(t)]
        if run.topics
        else [],
        "seeded": vars(run.seeded) if run.seeded else None,
        "sent": {f"{t} {c}": n for (t, c), n in sorted(tally.sent.items())} if tally else {},
        "kinds": {f"{c} {k}": n for (c, k), n in sorted(tally.kinds.items())} if tally else {},
        "bytes_sent": tally.bytes_sent if tally else 0,
        "dead_letters": {
            f"{t} {r} {s}": n for (t, r, s), n in sorted(outcomes.dead_letters.items())
        }
        if outcomes
        else {},
        "dead_letters_owed": {f"{t} {r}": n for (t, r), n in sorted(tally.dead_letters_due.items())}
        if tally
        else {},
        "commands_owed": len(tally.answers_due) if tally else 0,
        "commands_answered": len(outcomes.answers) if outcomes else 0,
        "rss_mb": {
            phase: {n: round(v / MB, 1) for n, v in figures.items()}
            for phase, figures in (
                ("before", run.rss_before),
                ("peak", run.rss_peak),
                ("final", run.rss_final),
            )
        },
        "caught_up": run.caught_up,
        "stalled": run.stalled,
        "drain_s": run.drain_s,
        "max_lag": run.max_lag,
        "lagging": run.last_reading.lagging(100) if run.last_reading else [],
        "crashed": run.crashed,
        "probes": [p.as_json() for p in run.probes],
        "money_before": run.money_before,
        "money_after": run.money_after,
        "books_after": run.books_after.as_json() if run.books_after else None,
        "timeline": run.timeline,
    }
