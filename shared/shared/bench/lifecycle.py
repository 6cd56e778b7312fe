"""(b) Full lifecycles across the four services, a fixed number in flight.

OpenContract → CreateEscrow → StartPayment (payments answers with the sandbox's redirect URL, on
`payment-started`) → the payer pays at the sandbox over HTTP (which calls the payments service
back) → `escrow-funded` → DeliverWork (the contractor) → ReleaseEscrow (the employer, all held)
→ `escrow-released` → the contractor's wallet credited with the net.

The payments service publishes no event when it credits a wallet, so that last step is read from
its read API (`GET /wallets/{contractor}`, one new contractor per lifecycle): polled only once
`escrow-released` is seen, at 5 ms then a growing interval up to 100 ms, so its latency is an
upper bound that far off. Escrow operations are counted 6 per lifecycle: open, create, fund,
deliver, release, credit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import ActorAuth
from shared.bench.closed_loop import EMPLOYER
from shared.bench.driver import Driver, Seen
from shared.bench.stats import rate, summary_ms
from shared.contract import escrow as wire
from shared.contract.base import Actor, Role
from shared.contract.base import Command as WireCommand
from shared.contract.payments import PaymentPurpose, StartPayment

#: consecutive stages: each starts where the one before ended, so they add up to the total
STAGES = ("open", "create", "payment", "pay", "fund", "deliver", "release", "credit")
ESCROW_OPERATIONS = ("open", "create", "fund", "deliver", "release", "credit")
COMMANDS_PER_LIFECYCLE = 5
AMOUNT = 1_000_000
QUANTILES = (0.5, 0.99)
FIRST_POLL_S = 0.005
#: a step also stops starting lifecycles after this many, whatever its duration
MAX_LIFECYCLES = 100_000
MAX_POLL_S = 0.1


class LifecycleFailed(Exception):
    def __init__(self, stage: str, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.timed_out = timed_out


@dataclass
class Trace:
    """When each stage of one lifecycle ended (`perf_counter`)."""

    started: float
    ends: dict[str, float] = field(default_factory=dict)

    def end(self, stage: str, at: float) -> None:
        previous = max([self.started, *self.ends.values()])
        self.ends[stage] = max(previous, at)

    def durations(self) -> dict[str, float]:
        found, previous = {}, self.started
        for stage in STAGES:
            found[stage] = self.ends[stage] - previous
            previous = self.ends[stage]
        found["total"] = previous - self.started
        return found


@dataclass
class LevelResult:
    in_flight: int
    completed: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    wallet_polls: int = 0
    stages: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def lifecycles_per_s(self) -> float:
        return rate(self.completed, self.elapsed_s)

    @property
    def operations_per_s(self) -> float:
        return self.lifecycles_per_s * len(ESCROW_OPERATIONS)

    def stage_ms(self) -> dict[str, dict[str, float | None]]:
        return {name: summary_ms(samples, QUANTILES) for name, samples in self.stages.items()}

    def as_json(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "completed": self.completed,
            "failed": dict(self.failed),
            "elapsed_s": round(self.elapsed_s, 3),
            "lifecycles_per_s": round(self.lifecycles_per_s, 2),
            "escrow_operations_per_s": round(self.operations_per_s, 1),
            "escrow_operations_counted": list(ESCROW_OPERATIONS),
            "commands_per_s": round(self.lifecycles_per_s * COMMANDS_PER_LIFECYCLE, 1),
            "wallet_polls_per_lifecycle": (
                round(self.wallet_polls / self.completed, 2) if self.completed else None
            ),
            "stage_latency_ms": self.stage_ms(),
        }


class Lifecycles:
    """Plays lifecycles through the driver, the sandbox's payer page and the payments read API."""

    def __init__(self, driver: Driver, payments_url: str, timeout: float) -> None:
        self.driver = driver
        self.timeout = timeout
        limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
        self.browser = httpx.AsyncClient(timeout=timeout, limits=limits)
        # the contractor's wallet is read as an admin (the bench plays every party)
        self.payments = httpx.AsyncClient(
            base_url=payments_url,
            timeout=timeout,
            limits=limits,
            auth=ActorAuth(driver.private_key_pem, Actor(user_id="bench", role=Role.ADMIN)),
        )
        self.polls = 0

    async def close(self) -> None:
        await self.browser.aclose()
        await self.payments.aclose()

    async def level(self, in_flight: int, duration: float, tag: str, cap: float) -> LevelResult:
        """Start lifecycles, `in_flight` at a time, until `duration` is over; finish them, but
        give up on those still running `cap` seconds after that."""
        result = LevelResult(in_flight, stages={name: [] for name in (*STAGES, "total")})
        numbers = itertools.count()
        polls_before = self.polls
        started = time.perf_counter()
        deadline = started + duration
        last = started

        async def worker() -> None:
            nonlocal last
            while time.perf_counter() < deadline:
                number = next(numbers)
                if number >= MAX_LIFECYCLES:
                    return
                try:
                    trace = await self.one(f"{tag}-{number}")
                except LifecycleFailed as exc:
                    result.failed[f"{exc.stage}: {exc.reason}"] += 1
                    if exc.timed_out:
                        return
                    continue
                except asyncio.CancelledError:
                    result.failed["unfinished at the step's cap"] += 1
                    raise
                result.completed += 1
                last = max(last, trace.ends["credit"])
                for name, seconds in trace.durations().items():
                    result.stages[name].append(seconds)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration + cap):
                await asyncio.gather(*(worker() for _ in range(in_flight)))
        result.elapsed_s = last - started
        result.wallet_polls = self.polls - polls_before
        return result

    async def one(self, name: str) -> Trace:
        """One lifecycle, named `name`; `LifecycleFailed` names the stage that went wrong."""
        escrow_id, payment_id = f"{name}-e", f"{name}-p"
        try:
            return await self._play(name, escrow_id, payment_id)
        except (LifecycleFailed, asyncio.CancelledError):
            for key in (
                ("payment-started", payment_id),
                ("escrow-funded", escrow_id),
                ("escrow-released", escrow_id),
            ):
                self.driver.forget(event=key)
            raise

    async def _play(self, name: str, escrow_id: str, payment_id: str) -> Trace:
        contract_id = f"{name}-c"
        contractor = Actor(user_id=f"{name}-con", role=Role.CONTRACTOR)
        trace = Trace(time.perf_counter())
        opening = wire.OpenContract(
            actor=EMPLOYER,
            contract_id=contract_id,
            contractor_id=contractor.user_id,
            currency="IRR",
        )
        trace.end("open", await self._command("open", opening))
        creating = wire.CreateEscrow(
            actor=EMPLOYER,
            escrow_id=escrow_id,
            contract_id=contract_id,
            kind=wire.EscrowKind.INSTANT,
            amount=AMOUNT,
        )
        trace.end("create", await self._command("create", creating))
        funded = self.driver.expect("escrow-funded", escrow_id)
        redirect = await self._payment(trace, escrow_id, payment_id)
        await self._pay(trace, redirect)
        trace.end("fund", (await self._event("fund", funded, ("escrow-funded", escrow_id))).at)
        delivering = wire.DeliverWork(actor=contractor, escrow_id=escrow_id)
        trace.end("deliver", await self._command("deliver", delivering))
        net = await self._release(trace, escrow_id)
        trace.end("credit", await self._credited(contractor.user_id, net))
        return trace

    async def _payment(self, trace: Trace, escrow_id: str, payment_id: str) -> str:
        started = self.driver.expect("payment-started", payment_id)
        paying = StartPayment(
            actor=EMPLOYER,
            payment_id=payment_id,
            purpose=PaymentPurpose.ESCROW,
            amount=AMOUNT,
            currency="IRR",
            escrow_id=escrow_id,
        )
        answered = await self._command("payment", paying)
        seen = await self._event("payment", started, ("payment-started", payment_id))
        trace.end("payment", max(answered, seen.at))
        return str(seen.data["redirect_url"])

    async def _pay(self, trace: Trace, redirect_url: str) -> None:
        try:
            response = await self.browser.post(redirect_url, json={"outcome": "paid"})
        except httpx.HTTPError as exc:
            raise LifecycleFailed("pay", type(exc).__name__) from exc
        if response.status_code != 200:
            raise LifecycleFailed("pay", f"HTTP {response.status_code}")
        trace.end("pay", time.perf_counter())
        # the sandbox calls the payments service back before it answers, and says how that went
        try:
            callbacks = [int(code) for code in response.json().get("callbacks", [])]
        except (ValueError, TypeError, AttributeError):
            callbacks = []
        if any(not 200 <= code < 300 for code in callbacks):
            raise LifecycleFailed("pay", f"the payments callback answered {callbacks}")

    async def _release(self, trace: Trace, escrow_id: str) -> int:
        released = self.driver.expect("escrow-released", escrow_id)
        releasing = wire.ReleaseEscrow(actor=EMPLOYER, escrow_id=escrow_id)
        answered = await self._command("release", releasing)
        seen = await self._event("release", released, ("escrow-released", escrow_id))
        trace.end("release", max(answered, seen.at))
        return int(seen.data["net"])

    async def _command(self, stage: str, command: WireCommand) -> float:
        """Send; the time its accepted answer arrived, else `LifecycleFailed`."""
        sent = await self.driver.send(command)
        try:
            async with asyncio.timeout(self.timeout):
                answer = await sent.answer
        except TimeoutError as exc:
            self.driver.forget(sent.command_id)
            raise LifecycleFailed(stage, "no answer", timed_out=True) from exc
        if not answer.accepted:
            raise LifecycleFailed(stage, f"rejected {answer.reason_code}")
        return answer.at

    async def _event(self, stage: str, seen: asyncio.Future[Seen], key: tuple[str, str]) -> Seen:
        try:
            async with asyncio.timeout(self.timeout):
                return await seen
        except TimeoutError as exc:
            self.driver.forget(event=key)
            raise LifecycleFailed(stage, f"no {key[0]}", timed_out=True) from exc

    async def _credited(self, contractor_id: str, net: int) -> float:
        """Poll the contractor's wallet until it holds `net`; when that answer came."""
        delay = FIRST_POLL_S
        deadline = time.perf_counter() + self.timeout
        while True:
            await asyncio.sleep(delay)
            self.polls += 1
            try:
                response = await self.payments.get(f"/wallets/{contractor_id}")
                balance = int(response.json().get("balances", {}).get("IRR", 0))
            except (httpx.HTTPError, ValueError):
                balance = 0
            if balance >= net:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise LifecycleFailed("credit", "wallet not credited", timed_out=True)
            delay = min(delay * 1.5, MAX_POLL_S)
