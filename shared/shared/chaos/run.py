"""One chaos run, in order: warm up; play every lifecycle (`--in-flight` at a time) while the
injector draws faults and the supervisor restarts what they killed; then wait (bounded, on
conditions) until the suite has caught up, and read everything the checks judge: each
lifecycle's final figures, the books, the ledgers, the outboxes, the dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.bench.closed_loop import answer_of, open_contract
from shared.bench.harness import SuiteFailed
from shared.bench.suite import Suite
from shared.chaos.driver import ChaosDriver, Reader, Stuck
from shared.chaos.faults import Fault, FaultBounds, Injector, Supervisor, schedule
from shared.chaos.flows import Bounds, Flows, refunded_total
from shared.chaos.options import Options
from shared.chaos.plans import CURRENCY, Plan, plans
from shared.contract.registry import all_topics, dlq
from shared.devstack.stack import SERVICES
from shared.fuzz.drain import Drain, Reading
from shared.fuzz.money import Reconciled, reconcile
from shared.fuzz.topics import consumed_topics

Say = Callable[[str], None]
WARMUP_TIMEOUT_S = 120.0


@dataclass
class Outcome:
    plan: Plan
    #: monotonic time the lifecycle reached its end, or None
    ended: float | None = None
    stuck: str = ""
    #: what the read APIs show at the end, and how it differs from the plan
    found: dict[str, Any] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.ended is not None and not self.wrong


@dataclass
class Run:
    options: Options
    meta: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    restarts: Counter[str] = field(default_factory=Counter)
    unexpected_exits: Counter[str] = field(default_factory=Counter)
    caught_up: bool = False
    stalled: str = ""
    last_reading: Reading | None = None
    books: Reconciled | None = None
    #: escrowctl reconcile, run as an operator runs it: exit status and what it printed
    reconcile_exit: int | None = None
    reconcile_output: str = ""
    #: per currency and service, the sum of every account (0: the ledger balances)
    ledger_sums: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    #: seconds from the end of the last fault to everything settled (None: never settled)
    recovery_s: float | None = None
    driver_counts: dict[str, int] = field(default_factory=dict)
    callbacks_repeated: int = 0
    refusals_retried: int = 0
    #: when the run started (`monotonic`): faults are timed from it
    origin: float = 0.0


async def chaos(suite: Suite, options: Options, say: Say) -> Run:
    """Run against the started suite (`run_on_the_suite` cancels it on SIGTERM; every client
    is closed on the way)."""
    return await Chaos(suite, options, say).run()


class Chaos:
    def __init__(self, suite: Suite, options: Options, say: Say) -> None:
        self.suite = suite
        self.options = options
        self.say = say
        self.rng = random.Random(options.seed)
        self.tag = f"chaos-{uuid.uuid4().hex[:6]}"
        self.result = Run(options)
        self.stack = suite.stack
        self.urls = {name: self.stack.url(name) for name in SERVICES}
        self.dsn_of = {name: suite.postgres_dsn(name) for name in SERVICES}
        self.driver = ChaosDriver(suite.bootstrap_servers, suite.private_key_pem)
        self.reader = Reader(self.urls, suite.private_key_pem)
        self.sandbox = httpx.AsyncClient(base_url=self.stack.sandbox_url, timeout=30)
        self.flows = Flows(
            self.driver,
            self.reader,
            self.sandbox,
            Bounds(options.resend_after_s, options.step_timeout_s),
        )
        self.supervisor = Supervisor(self.stack, say)
        self.injector: Injector | None = None
        self.started = self.result.origin = time.monotonic()

    async def run(self) -> Run:
        r, o = self.result, self.options
        r.meta = self._meta()
        topics = consumed_topics()
        event_topics = [t for t in topics.names if not topics.is_command_topic(t)]
        drain = Drain(self.suite.bootstrap_servers, topics, self.dsn_of)
        await self.driver.start()
        supervising = asyncio.create_task(self.supervisor.run(), name="supervisor")
        injector = self.injector = Injector(
            self.stack, self.supervisor, self.rng, self.driver.producer, event_topics, self.say
        )
        try:
            await self._warm_up()
            await drain.start()
            r.outcomes = [Outcome(p) for p in plans(self.rng, o.lifecycles, self.tag)]
            self.say(f"{len(r.outcomes)} lifecycles, {o.in_flight} in flight; faults {o.faults}")
            playing = asyncio.create_task(self._play_all())
            await self._inject(injector, playing)
            await playing
            await self._settle(drain)
            await self._read_end()
        finally:
            supervising.cancel()
            await asyncio.gather(supervising, return_exceptions=True)
            with contextlib.suppress(Exception):
                await drain.stop()
            await self.driver.stop()
            await self.reader.close()
            await self.sandbox.aclose()
        r.faults = injector.done
        r.restarts = self.supervisor.restarts
        r.unexpected_exits = self.supervisor.unexpected
        r.driver_counts = dict(self.driver.counts)
        r.callbacks_repeated = self.flows.callbacks_repeated
        r.refusals_retried = self.flows.refusals_retried
        pids = self.stack.describe()["pids"]
        r.meta["pids_at_end"] = pids if isinstance(pids, dict) else {}
        r.meta["wall_s"] = round(time.monotonic() - self.started, 1)
        r.meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return r

    # --- lifecycles and faults --------------------------------------------------------------

    async def _play_all(self) -> None:
        queue: asyncio.Queue[Outcome] = asyncio.Queue()
        for outcome in self.result.outcomes:
            queue.put_nowait(outcome)
        finished = 0

        async def worker() -> None:
            nonlocal finished
            while not queue.empty():
                outcome = queue.get_nowait()
                try:
                    outcome.ended = await self.flows.play(outcome.plan)
                except Stuck as exc:
                    outcome.stuck = str(exc)
                    self.say(f"stuck: {outcome.plan.name} ({outcome.plan.kind}) at {exc}")
                except Exception as exc:  # anything else unforeseen: this lifecycle only
                    outcome.stuck = f"failed: {exc!r}"
                    self.say(f"failed: {outcome.plan.name} ({outcome.plan.kind}): {exc!r}")
                finished += 1
                if finished % 50 == 0:
                    self.say(f"{finished} of {len(self.result.outcomes)} lifecycles ended")

        await asyncio.gather(*(worker() for _ in range(self.options.in_flight)))

    async def _inject(self, injector: Injector, playing: asyncio.Task[None]) -> None:
        """One fault after another, a random gap between; until `--fault-count` are done, or
        (without it) until every lifecycle has ended."""
        o = self.options
        if not o.faults or o.fault_count == 0:
            return
        next_kind = schedule(self.rng, o.faults)
        bounds = FaultBounds(o.max_broker_pause_s, o.max_postgres_down_s, o.duplicates)
        while o.fault_count is None or len(injector.done) < o.fault_count:
            gap = self.rng.uniform(*o.fault_gap_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(playing), gap)
            if playing.done() and o.fault_count is None:
                return
            await injector.inject(next_kind(), bounds)

    # --- the end ----------------------------------------------------------------------------

    async def _settle(self, drain: Drain) -> None:
        r, o = self.result, self.options
        self.say("waiting for the suite to catch up")
        with contextlib.suppress(Stuck):
            await self._every_process_ready()
        r.caught_up, r.last_reading, r.stalled = await drain.until_caught_up(
            o.settle_timeout_s, 1.0, lambda _: None
        )
        settled = time.monotonic()
        ends = [x.ended for x in r.outcomes if x.ended is not None]
        done = self.injector.done if self.injector else []
        last_fault = max((f.ended for f in done), default=None)
        if r.caught_up and last_fault is not None:
            r.recovery_s = round(max(0.0, max([settled, *ends]) - last_fault), 1)

    async def _every_process_ready(self) -> None:
        """Until every service process (one just restarted too) answers ready, bounded."""

        async def ready() -> bool | None:
            async with httpx.AsyncClient(timeout=5) as client:
                for process in self.stack.services:
                    answer = await client.get(self.stack.url(process) + "/health/ready")
                    if answer.status_code != 200:
                        return None
            return True

        await self.reader.until("ready", ready, self.options.settle_timeout_s, "not ready")

    async def _read_end(self) -> None:
        r = self.result
        self.say("reading every lifecycle's figures, the books, the ledgers, the dead letters")
        for outcome in r.outcomes:
            await self._verify(outcome)
        try:
            r.books = await reconcile(
                self.urls["escrow"], self.urls["payments"], self.suite.private_key_pem
            )
            r.ledger_sums = await self._ledger_sums()
        except httpx.HTTPError as exc:
            self.say(f"could not read the books: {exc!r}")
        r.reconcile_exit, r.reconcile_output = await asyncio.to_thread(self._escrowctl_reconcile)
        r.dead_letters = await self._dead_letters()

    async def _verify(self, outcome: Outcome) -> None:
        """The plan's final figures against what the read APIs show."""
        plan = outcome.plan
        try:
            escrow = await self.reader.get("escrow", f"/escrows/{plan.escrow_id}")
            wallet = await self.reader.get("payments", f"/wallets/{plan.contractor}")
            refunded = await refunded_total(self.reader, self.driver, plan.escrow_id)
            payout = (
                await self.reader.get("payments", f"/payouts/{plan.payout_id}")
                if plan.paid_out
                else None
            )
            dispute = (
                await self.reader.get("disputes", f"/disputes/{plan.dispute_id}")
                if plan.dispute_state
                else None
            )
        except httpx.HTTPError as exc:
            outcome.wrong = [f"not readable: {exc!r}"]
            return
        snapshot = (escrow or {}).get("escrow", {})
        found: dict[str, Any] = {
            "state": snapshot.get("state"),
            "held": snapshot.get("held"),
            "released": snapshot.get("released_amount"),
            "fees": snapshot.get("fees_charged"),
            "wallet": int((wallet or {}).get("balances", {}).get(CURRENCY, 0)),
            "refunded_to_employer": refunded,
        }
        expected: dict[str, Any] = {
            "state": plan.state,
            "held": 0,
            "released": plan.released,
            "fees": plan.fees,
            "wallet": plan.wallet,
            "refunded_to_employer": plan.refunded_to_employer,
        }
        if plan.paid_out:
            found["paid_out"] = (
                int(payout["amount"]) if payout and payout.get("status") == "completed" else 0
            )
            expected["paid_out"] = plan.paid_out
        if plan.dispute_state:
            found["dispute"] = (dispute or {}).get("dispute", dispute or {}).get("state")
            expected["dispute"] = plan.dispute_state
        outcome.found = found
        outcome.wrong = [
            f"{k} {found.get(k)} (intended {v})" for k, v in expected.items() if found.get(k) != v
        ]

    async def _ledger_sums(self) -> dict[str, int]:
        """Per service and currency, the sum of every account of its ledger (0: balanced)."""
        sums: dict[str, int] = {}
        escrow = await self.reader.get("escrow", "/ledger/totals") or {}
        for currency, classes in escrow.get("currencies", {}).items():
            sums[f"escrow {currency}"] = sum(int(v) for v in classes.values())
        payments = await self.reader.get("payments", "/ledger/totals") or {}
        for currency, found in payments.get("currencies", {}).items():
            sums[f"payments {currency}"] = int(found.get("total", 0))
        sums["payments unbalanced transactions"] = len(payments.get("unbalanced_transactions", []))
        sums["payments drifted balances"] = len(payments.get("drifted_balances", []))
        return sums

    def _escrowctl_reconcile(self) -> tuple[int, str]:
        env = {**os.environ, "ESCROW_VAR_DIR": str(self.stack.config.var_dir)}
        done = subprocess.run(
            [sys.executable, "-m", "shared.cli.main", "reconcile"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, (done.stdout + done.stderr).strip()

    async def _dead_letters(self) -> dict[str, int]:
        """Records on every dead-letter topic (their end offsets: none is ever deleted)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.suite.bootstrap_servers.split(","), group_id=None
        )
        await consumer.start()
        try:
            await consumer.topics()
            partitions = [
                TopicPartition(dlq(t), p)
                for t in all_topics()
                for p in sorted(consumer.partitions_for_topic(dlq(t)) or ())
            ]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        found: Counter[str] = Counter()
        for tp, end in ends.items():
            found[tp.topic] += end
        return {topic: n for topic, n in sorted(found.items()) if n}

    # --- helpers ----------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        deadline = time.perf_counter() + WARMUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            sent = await self.driver.send(open_contract(f"{self.tag}-warm-{time.monotonic_ns()}"))
            if await answer_of(self.driver, sent, max(1.0, deadline - time.perf_counter())):
                return
        raise SuiteFailed("the escrow service did not answer while warming up")

    def _meta(self) -> dict[str, Any]:
        o = self.options
        return {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "seed": o.seed,
            "tag": self.tag,
            "lifecycles": o.lifecycles,
            "in_flight": o.in_flight,
            "faults": list(o.faults),
            "fault_count": o.fault_count,
            "replicas": o.replicas,
            "var_dir": str(self.stack.config.var_dir),
            "pids": self.suite.pids,
            "settings": "as shipped (make run)",
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
