"""The run as one table (lifecycles, faults, stuck lifecycles, money, recovery, the checks) and
as JSON (`<var dir>/chaos.json`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.chaos.plans import Kind
from shared.chaos.run import Run
from shared.fuzz.checks import Check

SECTIONS = (
    "lifecycles (done / intended)",
    "faults injected",
    "stuck lifecycles",
    "money difference per currency",
    "time to recover after the last fault",
    "checks",
)


def render(run: Run, checks: list[Check]) -> str:
    m = run.meta
    lines = [
        f"escrow suite chaos   {m.get('started')}   {m.get('cpus')} cores   seed {m.get('seed')}"
        f"   {m.get('lifecycles')} lifecycles, {m.get('in_flight')} in flight"
        f"   replicas {m.get('replicas')}   run {m.get('wall_s')} s",
        f"the suite as `make run` ships it, var dir {m.get('var_dir')}; machine load at start "
        f"{m.get('load_average_at_start')}, at end {m.get('load_average_at_end')}",
    ]
    lines += _lifecycles(run)
    lines += _faults(run)
    lines += _stuck(run)
    lines += _money(run)
    lines += _recovery(run)
    lines += ["", SECTIONS[5]]
    lines += [f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in checks]
    verdict = "PASSED" if all(c.passed for c in checks) else "FAILED"
    lines += ["", f"verdict: {verdict} ({sum(c.passed for c in checks)} of {len(checks)} checks)"]
    return "\n".join(lines)


def _lifecycles(run: Run) -> list[str]:
    intended = Counter(o.plan.kind for o in run.outcomes)
    done = Counter(o.plan.kind for o in run.outcomes if o.done)
    lines = ["", SECTIONS[0], f"  {'kind':<22}{'done':>8}{'intended':>10}"]
    for kind in Kind:
        lines.append(f"  {kind:<22}{done[kind]:>8,}{intended[kind]:>10,}")
    lines.append(f"  {'total':<22}{done.total():>8,}{intended.total():>10,}")
    c = run.driver_counts
    lines.append(
        f"  commands sent {c.get('sent', 0):,}, sent again under their id {c.get('resent', 0):,};"
        f" PSP callbacks repeated {run.callbacks_repeated:,};"
        f" OpenDispute sent again while disputes lagged {run.refusals_retried:,}"
    )
    return lines


def _faults(run: Run) -> list[str]:
    by_kind: Counter[str] = Counter(f.kind for f in run.faults)
    longest: dict[str, float] = {}
    for f in run.faults:
        longest[f.kind] = max(longest.get(f.kind, 0.0), f.ended - f.started)
    lines = ["", SECTIONS[1], f"  {'kind':<16}{'count':>7}{'longest s':>11}  targets"]
    for kind in run.options.faults:
        targets = Counter(f.target for f in run.faults if f.kind == kind)
        text = ", ".join(f"{t} ×{n}" for t, n in targets.most_common(6))
        lines.append(f"  {kind:<16}{by_kind[kind]:>7}{longest.get(kind, 0.0):>11.1f}  {text}")
    lines.append(f"  {'total':<16}{by_kind.total():>7}")
    copied = sum(f.records for f in run.faults)
    if "duplicates" in run.options.faults:
        lines.append(f"  records of the event topics copied back onto them: {copied:,}")
    restarts = ", ".join(f"{p} ×{n}" for p, n in sorted(run.restarts.items())) or "none"
    lines.append(f"  restarted by the harness: {restarts}")
    unexpected = ", ".join(f"{p} ×{n}" for p, n in sorted(run.unexpected_exits.items()))
    lines.append(f"  exited without being killed: {unexpected or 'none'}")
    return lines


def _stuck(run: Run) -> list[str]:
    stuck = [o for o in run.outcomes if not o.done]
    lines = ["", f"{SECTIONS[2]}: {len(stuck)}"]
    for o in stuck[:20]:
        lines.append(f"  {o.plan.name} ({o.plan.kind}): {o.stuck or '; '.join(o.wrong)}")
    if len(stuck) > 20:
        lines.append(f"  … {len(stuck) - 20} more in chaos.json")
    if not stuck:
        lines.append("  none")
    return lines


_MONEY_COLUMNS = (
    "received",
    "held",
    "wallets",
    "paid out",
    "refunded",
    "fees",
    "in flight",
    "difference",
)
#: wide enough for 10**15 - 1 minor units with its separators, and a space before
_WIDTH = 20


def _money(run: Run) -> list[str]:
    books = run.books.books if run.books else []
    lines = [
        "",
        SECTIONS[3],
        "  " + f"{'currency':<10}" + "".join(f"{name:>{_WIDTH}}" for name in _MONEY_COLUMNS),
    ]
    for b in books:
        figures = (
            b.received,
            b.held_in_escrow,
            b.wallets,
            b.paid_out,
            b.refunded,
            b.fees,
            b.in_flight,
            b.difference,
        )
        lines.append("  " + f"{b.currency:<10}" + "".join(f"{f:>{_WIDTH},}" for f in figures))
    if not books:
        lines.append("  not read")
    sums = ", ".join(f"{k} {v:+,}" for k, v in run.ledger_sums.items())
    lines.append(f"  ledger sums: {sums}")
    lines.append(f"  escrowctl reconcile: exit {run.reconcile_exit}")
    return lines


def _recovery(run: Run) -> list[str]:
    if not run.faults:
        text = "no fault injected"
    elif run.recovery_s is None:
        text = "never: the suite did not settle"
    else:
        text = f"{run.recovery_s:.1f} s (last fault over → every lifecycle ended and caught up)"
    return ["", f"{SECTIONS[4]}: {text}"]


def as_json(run: Run, checks: list[Check]) -> dict[str, Any]:
    origin = run.origin
    return {
        "meta": run.meta,
        "passed": all(c.passed for c in checks),
        "checks": [c.as_json() for c in checks],
        "lifecycles": {
            "intended": len(run.outcomes),
            "done": sum(o.done for o in run.outcomes),
            "by_kind": {
                str(k): {
                    "intended": sum(o.plan.kind is k for o in run.outcomes),
                    "done": sum(o.plan.kind is k and o.done for o in run.outcomes),
                }
                for k in Kind
            },
        },
        "stuck": [
            {**o.plan.as_json(), "stuck": o.stuck, "wrong": o.wrong, "found": o.found}
            for o in run.outcomes
            if not o.done
        ],
        "faults": [f.as_json(origin) for f in run.faults],
        "faults_by_kind": dict(Counter(f.kind for f in run.faults)),
        "restarts": dict(run.restarts),
        "unexpected_exits": dict(run.unexpected_exits),
        "books": run.books.as_json() if run.books else None,
        "money_difference": {b.currency: b.difference for b in run.books.books}
        if run.books
        else {},
        "ledger_sums": run.ledger_sums,
        "reconcile_exit": run.reconcile_exit,
        "reconcile_output": run.reconcile_output,
        "dead_letters": run.dead_letters,
        "caught_up": run.caught_up,
        "recovery_s": run.recovery_s,
        "driver": run.driver_counts,
        "callbacks_repeated": run.callbacks_repeated,
        "refusals_retried": run.refusals_retried,
    }
