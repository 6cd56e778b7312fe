"""One fuzz run, in order: warm up, put money in the books, publish the probes' contacts, wait
until caught up, snapshot the money; send the records (lag and liveness read meanwhile); wait
until caught up (bounded: else a stall); probe every service; snapshot the money again; read
every dead letter and answer; RSS throughout (every second) and at the end."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.bench.closed_loop import answer_of, open_contract
from shared.bench.driver import HEADERS, Driver
from shared.bench.harness import SuiteFailed
from shared.bench.lifecycle import LifecycleFailed
from shared.bench.resources import MB, Resources
from shared.bench.suite import Suite
from shared.contract.envelope import new_event
from shared.devstack.stack import SERVICES
from shared.fuzz.drain import Drain, Reading
from shared.fuzz.money import Reconciled, Snapshot, reconcile, snapshot
from shared.fuzz.options import Options
from shared.fuzz.outcomes import Outcomes, read_outcomes
from shared.fuzz.probes import Probe, Probes, contacts
from shared.fuzz.produce import Tally, produce
from shared.fuzz.records import Generator
from shared.fuzz.seed import Seeded, Seeding, seed
from shared.fuzz.tokens import Tokens
from shared.fuzz.topics import Topics, consumed_topics
from shared.fuzz.values import Values

Say = Callable[[str], None]
WARMUP_TIMEOUT_S = 90.0
#: the suite catching up before fuzzing (seeding's downstream work): not the run's stall bound
SETTLE_BEFORE_S = 120.0


class SturdyDriver(Driver):
    """The bench's driver, which also reads `escrow-released`: a topic the fuzzer sends to. Its
    reading expects the suite's own records (a record nested too deep raised `RecursionError`,
    one with `"data": null` `AttributeError` out of its consumer loop, and every later answer
    was lost): here whatever it cannot read is dropped."""

    def _dispatch(self, topic: str, value: bytes | None, at: float) -> None:
        try:
            super()._dispatch(topic, value, at)
        except Exception:
            self.counts["dropped"] += 1


@dataclass
class Run:
    """Everything a run found; `checks.evaluate` judges it, `report` prints it."""

    options: Options
    meta: dict[str, Any] = field(default_factory=dict)
    topics: Topics | None = None
    seeded: Seeded | None = None
    tally: Tally | None = None
    money_before: Snapshot = field(default_factory=dict)
    money_after: Snapshot = field(default_factory=dict)
    books_before: Reconciled | None = None
    books_after: Reconciled | None = None
    caught_up: bool = False
    #: why the suite did not catch up (no progress, or the overall bound)
    stalled: str = ""
    drain_s: float | None = None
    last_reading: Reading | None = None
    max_lag: int = 0
    crashed: list[str] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    outcomes: Outcomes | None = None
    rss_before: dict[str, int] = field(default_factory=dict)
    rss_peak: dict[str, int] = field(default_factory=dict)
    rss_final: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return list(SERVICES)


async def fuzz(suite: Suite, options: Options, say: Say) -> Run:
    """Run against the started suite (`run_on_the_suite` cancels it on SIGTERM; every client
    is closed on the way)."""
    return await Fuzz(suite, options, say).run()


class Fuzz:
    def __init__(self, suite: Suite, options: Options, say: Say) -> None:
        self.suite = suite
        self.options = options
        self.say = say
        self.tag = f"fuzz-{uuid.uuid4().hex[:6]}"
        self.result = Run(options)
        self.dsn_of = {name: suite.postgres_dsn(name) for name in SERVICES}
        self.urls = {name: suite.stack.url(name) for name in SERVICES}
        self.driver = SturdyDriver(
            suite.bootstrap_servers, suite.private_key_pem, fetch_max_wait_ms=10
        )
        self.resources = Resources(suite.pids, interval_s=1.0)
        self.started = time.perf_counter()

    async def run(self) -> Run:
        r = self.result
        r.meta = self._meta()
        r.topics = consumed_topics()
        drain = Drain(self.suite.bootstrap_servers, r.topics, self.dsn_of)
        seeding = Seeding(self.driver, self.suite.payments_url, self.options.probe_timeout_s)
        await self.resources.start()
        await self.driver.start()
        await drain.start()
        try:
            await self._prepare(seeding, drain)
            await self._fuzz(drain)
            await self._after(drain)
        finally:
            await seeding.close()
            await drain.stop()
            await self.driver.stop()
            await self.resources.stop()
        r.rss_peak = dict(self.resources.peak_rss)
        r.meta["wall_s"] = round(time.perf_counter() - self.started, 1)
        r.meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return r

    # --- the steps ----------------------------------------------------------------------------

    async def _prepare(self, seeding: Seeding, drain: Drain) -> None:
        r, o = self.result, self.options
        self.say("warming up")
        await self._warm_up()
        self.say(f"seeding money: {o.released} released lifecycles, {o.funded} funded escrows")
        try:
            r.seeded = await seed(seeding, self.tag, released=o.released, funded=o.funded)
        except LifecycleFailed as exc:
            raise SuiteFailed(f"seeding money failed at {exc}") from exc
        marketplace = self.suite.stack.signer("marketplace")
        for contact in contacts(self.tag, o.probe_rounds):
            value = new_event(contact, source=marketplace.producer, signer=marketplace).encode()
            await self.driver.producer.send_and_wait(
                contact.TOPIC, value, key=contact.kafka_key().encode(), headers=HEADERS
            )
        caught_up, _, _ = await drain.until_caught_up(SETTLE_BEFORE_S, 1.0, lambda _: None)
        if not caught_up:
            raise SuiteFailed("the suite did not catch up after seeding")
        r.money_before = await snapshot(self.dsn_of)
        r.books_before = await reconcile(
            self.urls["escrow"], self.urls["payments"], self.suite.private_key_pem
        )
        r.rss_before = self.resources.rss()
        self.say(f"money before: {len(r.money_before)} figures; fuzzing {o.records:,} records")

    async def _fuzz(self, drain: Drain) -> None:
        r, o = self.result, self.options
        assert r.topics is not None and r.seeded is not None
        rng = random.Random(o.seed)
        generator = Generator(
            rng,
            r.topics,
            Values(rng, r.seeded.targets),
            Tokens(rng, self.suite.private_key_pem),
            huge_share=o.huge_share,
            huge_max=o.huge_max,
        )
        self.resources.begin("fuzz")
        sending = asyncio.create_task(
            produce(
                self.suite.bootstrap_servers,
                generator,
                r.topics,
                o.records,
                in_flight=o.in_flight,
                on_progress=self._progress,
            )
        )
        while not sending.done():
            await asyncio.wait({sending}, timeout=o.lag_interval_s)
            self._note(await drain.read(), "sending")
        r.tally = sending.result()
        self.say(f"sent {r.tally.records:,} records in {r.tally.elapsed_s:.0f} s; draining")
        sent_at = time.perf_counter()
        r.caught_up, r.last_reading, r.stalled = await drain.until_caught_up(
            o.drain_timeout_s,
            o.lag_interval_s,
            lambda reading: self._note(reading, "draining"),
            stall_s=o.stall_s,
        )
        r.drain_s = round(time.perf_counter() - sent_at, 1) if r.caught_up else None
        r.max_lag = drain.max_lag
        self.say("caught up" if r.caught_up else f"did not catch up: {r.stalled}")

    async def _after(self, drain: Drain) -> None:
        r, o = self.result, self.options
        assert r.tally is not None and r.topics is not None
        r.crashed = sorted(set(r.crashed) | set(self.suite.stack.crashed()))
        self.say("probing every service")
        r.probes = await Probes(self.driver, self.urls, self.tag, o.probe_timeout_s).run(
            o.probe_rounds
        )
        r.meta["caught_up_after_probes"], _, _ = await drain.until_caught_up(
            60.0, 1.0, lambda _: None
        )
        r.money_after = await snapshot(self.dsn_of)
        r.books_after = await reconcile(
            self.urls["escrow"], self.urls["payments"], self.suite.private_key_pem
        )
        self.say("reading dead letters and answers")
        r.outcomes = await read_outcomes(
            self.suite.bootstrap_servers, r.topics.names, r.tally.answers_due
        )
        await asyncio.sleep(o.settle_s)
        r.rss_final = self.resources.rss()
        self.resources.end(r.tally.records, "record")
        r.crashed = sorted(set(r.crashed) | set(self.suite.stack.crashed()))

    # --- helpers ------------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        deadline = time.perf_counter() + WARMUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            sent = await self.driver.send(open_contract(f"{self.tag}-warm-{time.monotonic_ns()}"))
            if await answer_of(self.driver, sent, max(1.0, deadline - time.perf_counter())):
                return
        raise SuiteFailed("the escrow service did not answer while warming up")

    def _note(self, reading: Reading, phase: str) -> None:
        r = self.result
        r.crashed = sorted(set(r.crashed) | set(self.suite.stack.crashed()))
        rss = self.resources.rss()
        r.timeline.append(
            {
                "phase": phase,
                "t_s": round(reading.at - self.started, 1),
                "lag": reading.total_lag,
                "backlog": sum(reading.backlog.values()),
                "rss_mb": {n: round(rss.get(n, 0) / MB, 1) for n in r.services},
            }
        )
        if len(r.timeline) % 5 == 0:
            rss_text = " ".join(f"{n} {rss.get(n, 0) / MB:.0f}" for n in r.services)
            self.say(f"{phase}: lag {reading.total_lag:,}, RSS MB {rss_text}")

    def _progress(self, sent: int) -> None:
        if sent % 10_000 == 0:
            self.say(f"sent {sent:,}")

    def _meta(self) -> dict[str, Any]:
        o = self.options
        return {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "records": o.records,
            "seed": o.seed,
            "tag": self.tag,
            "var_dir": str(self.suite.stack.config.var_dir),
            "pids": self.suite.pids,
            "settings": "as shipped (make run)",
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        }
