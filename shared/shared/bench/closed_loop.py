"""(a) The escrow service alone: a closed loop of `escrow.OpenContract.v1`, a new contract id each,
with a fixed number of commands in flight; answered per second, and the latency from sending a
command to its `CommandResult` arriving on `command-results`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from shared.bench.driver import Driver, Sent
from shared.bench.stats import rate, summary_ms
from shared.contract.base import Actor, Role
from shared.contract.escrow import OpenContract

EMPLOYER = Actor(user_id="bench-employer", role=Role.EMPLOYER)
CONTRACTOR_ID = "bench-contractor"
QUANTILES = (0.5, 0.95, 0.99)
#: a step also stops after this many commands, whatever its duration
MAX_COMMANDS = 1_000_000


def open_contract(contract_id: str, contractor_id: str = CONTRACTOR_ID) -> OpenContract:
    return OpenContract(
        actor=EMPLOYER, contract_id=contract_id, contractor_id=contractor_id, currency="IRR"
    )


@dataclass
class LoopResult:
    """One closed-loop level."""

    in_flight: int
    sent: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0
    failed_sends: int = 0
    elapsed_s: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)

    @property
    def answered(self) -> int:
        return self.accepted + self.rejected.total()

    @property
    def per_s(self) -> float:
        return rate(self.answered, self.elapsed_s)

    def latency_ms(self) -> dict[str, float | None]:
        return summary_ms(self.latencies, QUANTILES)

    def as_json(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "sent": self.sent,
            "answered": self.answered,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "unanswered": self.unanswered,
            "failed_sends": self.failed_sends,
            "elapsed_s": round(self.elapsed_s, 3),
            "commands_per_s": round(self.per_s, 1),
            "latency_ms": self.latency_ms(),
        }


async def answer_of(driver: Driver, sent: Sent, timeout: float) -> Any:
    """The command's answer, or None if it did not come within `timeout` (then forgotten)."""
    try:
        async with asyncio.timeout(timeout):
            return await sent.answer
    except TimeoutError:
        driver.forget(sent.command_id)
        return None


async def closed_loop(
    driver: Driver, in_flight: int, duration: float, timeout: float, tag: str
) -> LoopResult:
    """`in_flight` workers, each sending its next command when the last one is answered, until
    `duration` is over; then the commands still in flight are awaited (at most `timeout`)."""
    result = LoopResult(in_flight)
    numbers = itertools.count()
    started = time.perf_counter()
    deadline = started + duration
    last = started

    async def worker() -> None:
        nonlocal last
        while time.perf_counter() < deadline and result.sent < MAX_COMMANDS:
            sent = await driver.send(open_contract(f"{tag}-{next(numbers)}"))
            result.sent += 1
            try:
                answer = await answer_of(driver, sent, timeout)
            except Exception:
                result.failed_sends += 1
                return
            if answer is None:
                result.unanswered += 1
                return
            result.latencies.append(answer.at - sent.at)
            last = max(last, answer.at)
            if answer.accepted:
                result.accepted += 1
            else:
                result.rejected[answer.reason_code or "?"] += 1

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    result.elapsed_s = last - started
    return result
