"""(c) The escrow service alone at a fixed offered rate: `OpenContract` commands sent on a schedule
whatever the answers do (an open loop), for a bounded time; then a bounded wait for the answers.

Latency is counted from each command's scheduled send time, so a driver or a suite that falls
behind shows in it; a command unanswered after the wait counts as infinitely late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.bench.closed_loop import open_contract
from shared.bench.driver import Driver, Sent
from shared.bench.stats import INFINITE, percentile, rate, summary_ms

QUANTILES = (0.5, 0.99)


@dataclass
class RateResult:
    offered_per_s: int
    duration_s: float
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    #: of the unanswered, those answered while the bench waited before the next step
    answered_late: int = 0
    #: from the first answer to the last: the pace the suite answered at
    answering_s: float = 0.0
    send_s: float = 0.0
    #: how late the bench sent commands against their schedule
    send_lag_p99_ms: float | None = None
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def answered(self) -> int:
        return self.accepted + self.rejected.total()

    @property
    def achieved_per_s(self) -> float:
        """Answers per second: over the sending when the suite kept up (the offered rate), over
        the first to the last answer when it fell behind (its capacity)."""
        return rate(self.answered, max(self.send_s, self.answering_s))

    @property
    def sent_per_s(self) -> float:
        return rate(self.sent, self.send_s)

    def latency_ms(self) -> dict[str, float | None]:
        """p50 / p99 over every command sent; an unanswered one is infinitely late (inf)."""
        return summary_ms([*self.latencies, *[INFINITE] * self.unanswered], QUANTILES)

    def as_json(self) -> dict[str, Any]:
        latency = {k: (None if v == INFINITE else v) for k, v in self.latency_ms().items()}
        return {
            "offered_per_s": self.offered_per_s,
            "duration_s": self.duration_s,
            "sent": self.sent,
            "sent_per_s": round(self.sent_per_s, 1),
            "answered": self.answered,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "unanswered": self.unanswered,
            "answered_after_the_drain_wait": self.answered_late,
            "achieved_per_s": round(self.achieved_per_s, 1),
            "latency_ms": latency,
            "latency_note": "from the scheduled send; null: beyond the drain wait (unanswered)",
            "send_lag_p99_ms": self.send_lag_p99_ms,
        }


async def open_loop(
    driver: Driver, offered: int, duration: float, drain: float, tag: str
) -> RateResult:
    result = RateResult(offered, duration)
    count = max(1, round(offered * duration))
    schedule: list[tuple[float, Sent]] = []
    lags: list[float] = []
    started = time.perf_counter() + 0.005
    while len(schedule) < count:
        due = min(count, math.floor((time.perf_counter() - started) * offered) + 1)
        while len(schedule) < due:
            at = started + len(schedule) / offered
            sent = await driver.send(open_contract(f"{tag}-{len(schedule)}"))
            lags.append(max(0.0, sent.at - at))
            schedule.append((at, sent))
        if len(schedule) < count:
            await asyncio.sleep(max(0.0, started + len(schedule) / offered - time.perf_counter()))
    result.send_s = time.perf_counter() - started
    result.sent = len(schedule)
    lag = percentile(lags, 0.99)
    result.send_lag_p99_ms = None if lag is None else lag * 1000
    await asyncio.wait([sent.answer for _, sent in schedule], timeout=drain)
    _collect(driver, schedule, result)
    return result


def _collect(driver: Driver, schedule: list[tuple[float, Sent]], result: RateResult) -> None:
    first, last = math.inf, 0.0
    for at, sent in schedule:
        answer = sent.answer
        if not answer.done() or answer.cancelled() or answer.exception() is not None:
            driver.forget(sent.command_id)
            answer.cancel()
            result.unanswered += 1
            continue
        found = answer.result()
        result.latencies.append(found.at - at)
        first, last = min(first, found.at), max(last, found.at)
        if found.accepted:
            result.accepted += 1
        else:
            result.rejected[found.reason_code or "?"] += 1
    result.answering_s = max(0.0, last - first)
