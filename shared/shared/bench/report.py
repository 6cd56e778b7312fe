"""The printed table: every figure beside its ratio to the floor measured in the same run, the
CPU and memory of every process by step, and the targets block.

Ratios: a throughput is divided by PostgreSQL's commits/s on 1 connection, a latency by Tansu's
one-record round trip p50, a CPU cost per unit by the floor's cost per commit (PostgreSQL) or per
record (Tansu).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.bench.floor import Floor
from shared.bench.lifecycle import ESCROW_OPERATIONS, STAGES
from shared.bench.resources import BENCH, MB, PSS
from shared.bench.results import Results

THROUGHPUT, LATENCY = "throughput", "latency"
COLUMNS = (("step", 24), ("figure", 30), ("value", 26), ("× floor", 22))
RULE = "─" * sum(width for _, width in COLUMNS)
SHORT = {"notifications": "notific", "postgresql": "postgres"}


@dataclass(frozen=True)
class Line:
    step: str
    figure: str
    values: tuple[float | None, ...]
    #: THROUGHPUT, LATENCY, or None (no ratio)
    kind: str | None = None
    #: instead of ratios (e.g. "= floor")
    note: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    unit: str
    #: None: not measured in this run
    met: bool | None

    def as_json(self) -> dict[str, object]:
        value = None if self.value is None or math.isinf(self.value) else self.value
        return {"target": self.name, "value": value, "unit": self.unit, "met": self.met}


# --- numbers ---------------------------------------------------------------------------------


def num(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isinf(value):
        return "∞"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "—"
    return "∞" if math.isinf(value) else f"{num(value / base)}×"


def bases(floor: Floor | None) -> dict[str, float | None]:
    if floor is None:
        return {THROUGHPUT: None, LATENCY: None}
    return {THROUGHPUT: floor.commits_per_s_1 or None, LATENCY: floor.round_trip_p50_ms}


# --- lines of each section -------------------------------------------------------------------


def floor_lines(floor: Floor) -> list[Line]:
    return [
        Line("PostgreSQL, 1 conn", "commits/s", (floor.commits_per_s_1,), note="= floor"),
        Line("PostgreSQL, 8 conn", "commits/s", (floor.commits_per_s_8,), kind=THROUGHPUT),
        Line("PostgreSQL, 1 conn", "commit p50 ms", (floor.commit_p50_ms_1,), kind=LATENCY),
        Line("Tansu, batched", "produce records/s", (floor.produce_msgs_per_s,), note="floor"),
        Line("Tansu, batched", "consume records/s", (floor.consume_msgs_per_s,), note="floor"),
        Line(
            "Tansu, one record",
            "round trip p50 / p99 ms",
            (floor.round_trip_p50_ms, floor.round_trip_p99_ms),
            note="= floor / —",
        ),
        Line(
            "Tansu, one record",
            f"p50, services' {floor.service_fetch_wait_ms} ms wait",
            (floor.service_wait_round_trip_p50_ms,),
            kind=LATENCY,
        ),
        Line(
            "CPU per unit",
            "postgres ms/commit, tansu ms/rec",
            (floor.postgres_cpu_ms_per_commit, floor.tansu_cpu_ms_per_record),
            note="= floor",
        ),
        Line("records", "bytes each, produced", (floor.record_bytes, floor.messages)),
    ]


def closed_lines(results: Results) -> list[Line]:
    lines = []
    for r in results.closed:
        latency = r.latency_ms()
        lines += [
            Line(f"{r.in_flight} in flight", "commands/s", (r.per_s,), kind=THROUGHPUT),
            Line("", "p50 / p95 / p99 ms", tuple(latency.values()), kind=LATENCY),
            Line("", "sent / answered / unanswered", (r.sent, r.answered, r.unanswered)),
        ]
        if r.rejected:
            lines.append(Line("", f"rejected {dict(r.rejected)}", (r.rejected.total(),)))
    return lines


def lifecycle_lines(results: Results) -> list[Line]:
    lines = []
    for r in results.lifecycles:
        stages = r.stage_ms()
        lines += [
            Line(f"{r.in_flight} in flight", "lifecycles/s", (r.lifecycles_per_s,), THROUGHPUT),
            Line("", "escrow operations/s", (r.operations_per_s,), THROUGHPUT),
            Line("", "completed / failed", (r.completed, r.failed.total())),
        ]
        for stage in (*STAGES, "total"):
            values = tuple(stages[stage].values())
            lines.append(Line("", f"{stage} p50 / p99 ms", values, LATENCY))
        for reason, count in r.failed.items():
            lines.append(Line("", f"failed {reason}", (count,)))
    return lines


def open_lines(results: Results) -> list[Line]:
    lines = []
    for r in results.open:
        lines += [
            Line(f"{r.offered_per_s}/s offered", "achieved/s", (r.achieved_per_s,), THROUGHPUT),
            Line("", "p50 / p99 ms (from schedule)", tuple(r.latency_ms().values()), LATENCY),
            Line("", "sent / answered / unanswered", (r.sent, r.answered, r.unanswered)),
            Line("", "send lag p99 ms (bench)", (r.send_lag_p99_ms,)),
        ]
        if r.unanswered:
            lines.append(Line("", "of those answered later", (r.answered_late,)))
    return lines


def render_line(line: Line, base: dict[str, float | None]) -> str:
    value = " / ".join(num(v) for v in line.values)
    if line.note:
        scaled = line.note
    elif line.kind is None:
        scaled = ""
    else:
        scaled = " / ".join(ratio(v, base[line.kind]) for v in line.values)
    cells = (line.step, line.figure, value, scaled)
    (_, w0), (_, w1), (_, w2), (_, w3) = COLUMNS
    return f"  {cells[0]:<{w0 - 2}}{cells[1]:<{w1}}{cells[2]:>{w2}}  {cells[3]:<{w3 - 2}}".rstrip()


# --- CPU and memory grids --------------------------------------------------------------------


def _label(name: str) -> str:
    if name.endswith(f" {PSS}"):
        return f"pg {PSS}"
    base, _, replica = name.partition("-")
    short = SHORT.get(base, base)
    return f"{short}-{replica}" if replica else short


def _grid(
    corner: str, columns: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]
) -> list[str]:
    widths = [max(9, len(c) + 1) for c in columns]
    lines = [f"  {corner:<37}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))]
    for title, cells in rows:
        line = "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True))
        lines.append(f"  {title[:36]:<37}{line}")
    return lines


def resource_lines(results: Results) -> list[str]:
    processes = _process_order(results)
    cpu_names = [n for n in processes if not n.endswith(f" {PSS}")]
    floor = results.floor
    pg_floor = floor.postgres_cpu_ms_per_commit if floor else None
    tansu_floor = floor.tansu_cpu_ms_per_record if floor else None
    cpu_rows = [
        (
            f"{u.phase[:26]:<27}{u.unit[:9]}",
            [
                *(num(u.per_unit_ms(n)) for n in cpu_names),
                ratio(u.per_unit_ms("postgresql"), pg_floor),
                ratio(u.per_unit_ms("tansu"), tansu_floor),
            ],
        )
        for u in results.usages
    ]
    columns = [*(_label(n) for n in cpu_names), "pg×floor", "tansu×fl"]
    lines = _grid(f"{'CPU ms per unit':<27}unit", columns, cpu_rows)
    overall = results.peak_rss_mb()
    rss_rows: list[tuple[str, Sequence[str]]] = [
        (u.phase, [num(u.peak_rss_mb.get(n)) for n in processes]) for u in results.usages
    ]
    rss_rows.append(("whole run (start included)", [num(overall.get(n)) for n in processes]))
    lines += ["", *_grid("peak RSS MB", [_label(n) for n in processes], rss_rows), ""]
    lines.append(
        "  peak RSS of each service: "
        + ", ".join(f"{n} {num(overall.get(n))} MB" for n in results.services)
    )
    return lines


def _process_order(results: Results) -> list[str]:
    known = set(results.peak_rss)
    for usage in results.usages:
        known |= set(usage.cpu_ms)
    tail = ["postgresql", f"postgresql {PSS}", "tansu", "sandbox", "mail", BENCH]
    return [*(n for n in results.services if n in known), *(n for n in tail if n in known)]


# --- targets ---------------------------------------------------------------------------------


def targets(results: Results) -> list[Target]:
    best_closed = max((r.per_s for r in results.closed), default=None)
    best_ops = max((r.operations_per_s for r in results.lifecycles), default=None)
    at_500 = next((r for r in results.open if r.offered_per_s == 500), None)
    p99 = at_500.latency_ms()["p99"] if at_500 else None
    commits = results.floor.commits_per_s_1 if results.floor else None
    share = best_closed / commits if best_closed is not None and commits else None
    rss = [results.peak_rss[n] / MB for n in results.services if n in results.peak_rss]
    worst = max(rss, default=None)
    return [
        Target(
            "≥1000 commands/s (closed loop, best level)", best_closed, "/s", _met(best_closed, 1000)
        ),
        Target("≥1000 escrow operations/s in lifecycles", best_ops, "/s", _met(best_ops, 1000)),
        Target("p99 ≤100 ms at 500/s offered", p99, "ms", _met(p99, 100, above=False)),
        Target("≥0.25 of the 1-conn commit floor at saturation", share, "×", _met(share, 0.25)),
        Target("service RSS ≤150 MB (peak)", worst, "MB", _met(worst, 150, above=False)),
    ]


def _met(value: float | None, goal: float, *, above: bool = True) -> bool | None:
    if value is None:
        return None
    return value >= goal if above else value <= goal


def target_lines(found: Iterable[Target]) -> list[str]:
    lines = []
    for t in found:
        measured = "—" if t.value is None else f"{num(t.value)} {t.unit}"
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[t.met]
        lines.append(f"  {t.name:<52}{measured:>16}   {verdict}")
    return lines


# --- the whole -------------------------------------------------------------------------------


def sections(results: Results) -> list[tuple[str, list[Line]]]:
    found = []
    if results.floor is not None:
        title = "(e) floor: the same PostgreSQL and Tansu, measured first"
        found.append((title, floor_lines(results.floor)))
    if results.closed:
        found.append(("(a) escrow alone, closed loop of OpenContract", closed_lines(results)))
    if results.lifecycles:
        found.append(("(b) full lifecycles, open … wallet credited", lifecycle_lines(results)))
    if results.open:
        found.append(("(c) escrow alone, open loop of OpenContract", open_lines(results)))
    return found


def legend(results: Results) -> list[str]:
    base = bases(results.floor)
    lines = [
        "× floor: throughput ÷ PostgreSQL commits/s on 1 connection "
        f"({num(base[THROUGHPUT])}/s); latency ÷ Tansu round trip p50 ({num(base[LATENCY])} ms)",
        f"escrow operations per lifecycle: {', '.join(ESCROW_OPERATIONS)}",
    ]
    if results.usages:
        lines.append(
            "(d) units: command = one OpenContract, escrow op = 1/6 lifecycle; "
            "pg×floor, tansu×fl: ÷ their CPU per floor commit / record"
        )
    return lines


def render(results: Results, header: Sequence[str]) -> str:
    base = bases(results.floor)
    titles = "".join(f"{title:<{width}}" for title, width in COLUMNS)
    out = [RULE, *header, RULE, titles.rstrip(), RULE]
    for title, lines in sections(results):
        out += [title, *(render_line(line, base) for line in lines), ""]
    if results.usages:
        out += ["(d) CPU per unit of work and peak RSS, by step and process"]
        out += resource_lines(results)
        out.append(
            "  CPU of a step: from its start until the suite is idle again after it (bounded), "
            f"idle background included (the idle suite uses {results.meta.get('idle_cores')} cores)"
        )
    if results.profiles or results.profile_errors:
        out += [RULE, *profile_lines(results)]
    out += [RULE, *legend(results), RULE, "targets", *target_lines(targets(results)), RULE]
    return "\n".join(out)


#: areas on every stack (the process's entry: runpy, uvicorn), left out of "on stack"
ENTRY = ("other", "uvicorn")


def profile_lines(results: Results, areas: int = 7, functions: int = 5) -> list[str]:
    """Per profiled process: the CPU shares by area (self, and on the stack) and its busiest
    functions (`--profile`)."""
    lines = ["profile (py-spy, busy samples only): share of CPU by where it was spent"]
    for p in results.profiles:
        lines.append(f"  {p.step}, {p.process}: {p.samples} samples, stacks in {p.path}")
        lines.append(
            "    self:     "
            + ", ".join(f"{a} {p.share(n):.0%}" for a, n in p.self_by_area.most_common(areas))
        )
        lines.append(
            "    on stack: "
            + ", ".join(
                f"{a} {p.share(n):.0%}"
                for a, n in p.total_by_area.most_common()[: areas + len(ENTRY)]
                if a not in ENTRY
            )
        )
        for function, n in p.self_by_function.most_common(functions):
            lines.append(f"      {p.share(n):>4.0%}  {function}")
    lines += [f"  not profiled: {error}" for error in results.profile_errors]
    return lines
