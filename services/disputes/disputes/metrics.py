"""The disputes service's business metrics (the runtime's own are in shared.metrics)."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction

from prometheus_client import Counter, Gauge, Histogram

from disputes.domain.states import ARBITRATION, CLOSED, NEGOTIATION, PENDING, REJECTED, WITHDRAWN

STATES = (PENDING, NEGOTIATION, ARBITRATION, CLOSED, REJECTED, WITHDRAWN)
HOUR = 3600.0

DISPUTES = Gauge("escrow_suite_disputes", "Disputes by state", ["state"])
TIME_TO_VERDICT = Histogram(
    "escrow_suite_dispute_time_to_verdict_seconds",
    "Time from opening a dispute to its verdict (agreement or arbitration)",
    buckets=(
        HOUR,
        6 * HOUR,
        24 * HOUR,
        3 * 24 * HOUR,
        7 * 24 * HOUR,
        14 * 24 * HOUR,
        30 * 24 * HOUR,
    ),
)
CONTRACTOR_SHARE = Histogram(
    "escrow_suite_verdict_contractor_share_ratio",
    "The contractor's share of the held amount in a verdict (0: all refunded, 1: all paid)",
    buckets=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
DEADLINES_MISSED = Counter(
    "escrow_suite_dispute_deadlines_missed_total", "Dispute deadlines missed", ["deadline"]
)


def observe_verdict(opened_at: datetime, decided_at: datetime, contractor: int, held: int) -> None:
    TIME_TO_VERDICT.observe((decided_at - opened_at).total_seconds())
    # The ratio is exact in integers; only the metric sample is a float.
    CONTRACTOR_SHARE.observe(float(Fraction(contractor, held)))


def set_counts(counts: dict[str, int]) -> None:
    for state in STATES:
        DISPUTES.labels(state).set(counts.get(state, 0))
