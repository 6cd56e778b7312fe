"""Small statistics over latency samples: nearest-rank percentiles, in milliseconds."""

from __future__ import annotations

import math
from collections.abc import Sequence

INFINITE = math.inf


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (0 < q <= 1) of `samples`; None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary_ms(samples_s: Sequence[float], quantiles: Sequence[float]) -> dict[str, float | None]:
    """`{"p50": …, "p99": …}` in milliseconds from samples in seconds (inf stays inf)."""
    found: dict[str, float | None] = {}
    for q in quantiles:
        value = percentile(samples_s, q)
        found[f"p{round(q * 100)}"] = None if value is None else value * 1000
    return found


def rate(count: int, elapsed_s: float) -> float:
    """`count` per second over `elapsed_s` (0 when nothing or no time elapsed)."""
    return count / elapsed_s if count and elapsed_s > 0 else 0.0
