"""One run, in order: warm up, the floor (e), the closed loop (a), lifecycles (b), the open loop
(c), each step wrapped in CPU / RSS readings (d); returns the results."""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from shared.bench import floor
from shared.bench.closed_loop import EMPLOYER, answer_of, closed_loop, open_contract
from shared.bench.driver import SOURCE, Driver
from shared.bench.lifecycle import ESCROW_OPERATIONS, LifecycleFailed, Lifecycles
from shared.bench.open_loop import open_loop
from shared.bench.options import Options
from shared.bench.profile import Sampler
from shared.bench.resources import Resources
from shared.bench.results import Results
from shared.bench.suite import Suite
from shared.contract.envelope import new_event

Say = Callable[[str], None]
WARMUP_TIMEOUT_S = 90.0


class SuiteFailed(RuntimeError):
    """A process of the suite exited during the run."""


async def bench(suite: Suite, options: Options, say: Say) -> Results:
    """Measure the running suite (the driver and its clients need the running event loop).
    SIGTERM cancels it, as `asyncio.run` does on Ctrl-C, so every client is closed on the way."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await Bench(suite, options, say).run()


class Bench:
    def __init__(self, suite: Suite, options: Options, say: Say) -> None:
        self.suite = suite
        self.options = options
        self.say = say
        self.run_id = uuid.uuid4().hex[:6]
        self.driver = Driver(
            suite.bootstrap_servers,
            suite.private_key_pem,
            fetch_max_wait_ms=options.fetch_max_wait_ms,
        )
        self.resources = Resources(suite.pids)
        self.lifecycles = Lifecycles(self.driver, suite.payments_url, options.answer_timeout_s)
        self.results = Results(services=list(suite.stack.services))
        self.sampler = Sampler(
            suite.stack.config.var_dir,
            {name: pid for name, pid in suite.pids.items() if name in self.results.services},
            options.duration,
        )
        #: what the suite burns when nothing is asked of it (cores), measured after warm-up
        self.idle_cores = 0.0

    async def run(self) -> Results:
        started = time.perf_counter()
        self.results.meta = self._meta()
        await self.resources.start()
        await self.driver.start()
        try:
            await self._warm_up()
            await self._measure()
        finally:
            await self.lifecycles.close()
            await self.driver.stop()
            await self.resources.stop()
        if self.options.wants("d"):
            self.results.usages = self.resources.usages
        self.results.peak_rss = dict(self.resources.peak_rss)
        self.results.driver = dict(self.driver.counts)
        self.results.reading_s = self.resources.reading_s
        self.results.meta["measured_s"] = round(time.perf_counter() - started, 1)
        self.results.meta["load_average_at_end"] = _load_average()
        return self.results

    async def _measure(self) -> None:
        o = self.options
        if o.wants("e"):
            self.say("measuring the floor (e)")
            record = self._sample_record()
            self.results.floor = await floor.measure(self.suite, o, self.resources, record)
        if o.wants("a"):
            for level in o.closed_levels:
                await self._closed(level)
        if o.wants("b"):
            for level in o.lifecycle_levels:
                await self._lifecycles(level)
        if o.wants("c"):
            for offered in o.open_rates:
                await self._open(offered)

    # --- steps -----------------------------------------------------------------------------

    async def _closed(self, in_flight: int) -> None:
        o = self.options
        step = f"a {in_flight} in flight"
        self.resources.begin(step)
        tag = f"bench-{self.run_id}-a{in_flight}"
        profiled = await self._profile(step, in_flight == max(o.closed_levels))
        result = await closed_loop(self.driver, in_flight, o.duration, o.answer_timeout_s, tag)
        await self._profiled(profiled)
        late = await self._settle()
        self.resources.end(result.answered + late, "command")
        self.results.closed.append(result)
        self.say(
            f"(a) {in_flight:>4} in flight: {result.per_s:8.1f} commands/s, "
            f"p99 {result.latency_ms()['p99'] or 0:.1f} ms, {result.unanswered} unanswered"
        )

    async def _lifecycles(self, in_flight: int) -> None:
        o = self.options
        step = f"b {in_flight} in flight"
        self.resources.begin(step)
        tag = f"bench-{self.run_id}-b{in_flight}"
        profiled = await self._profile(step, in_flight == max(o.lifecycle_levels))
        result = await self.lifecycles.level(in_flight, o.duration, tag, o.lifecycle_cap_s)
        await self._profiled(profiled)
        await self._settle()
        self.resources.end(result.completed * len(ESCROW_OPERATIONS), "escrow op")
        self.results.lifecycles.append(result)
        self.say(
            f"(b) {in_flight:>4} in flight: {result.lifecycles_per_s:8.2f} lifecycles/s, "
            f"{result.operations_per_s:.1f} escrow ops/s, {result.failed.total()} failed"
        )

    async def _open(self, offered: int) -> None:
        o = self.options
        self.resources.begin(f"c {offered}/s offered")
        tag = f"bench-{self.run_id}-c{offered}"
        result = await open_loop(self.driver, offered, o.duration, o.drain_s, tag)
        result.answered_late = await self._settle()
        self.resources.end(result.answered + result.answered_late, "command")
        self.results.open.append(result)
        self.say(
            f"(c) {offered:>5}/s offered: {result.achieved_per_s:8.1f}/s achieved, "
            f"{result.unanswered} unanswered"
        )

    async def _profile(self, step: str, busiest: bool) -> bool:
        """With `--profile`, start sampling the services for the busiest step of a section."""
        if not (self.options.profile and busiest):
            return False
        await self.sampler.start(step)
        return True

    async def _profiled(self, started: bool) -> None:
        if started:
            self.results.profiles += await self.sampler.finish()
            self.results.profile_errors = list(self.sampler.errors)

    async def _settle(self) -> int:
        """Before the next step: wait (bounded) for the answers given up on (the escrow
        service's backlog), then for the suite to go idle (the work a step caused downstream);
        check nothing died. Returns how many answers came late meanwhile."""
        late_before = self.driver.counts["answered_late"]
        await self.driver.wait_owed(self.options.drain_s)
        await self.resources.settle(self.options.settle_s, self.idle_cores * 1.5 + 0.05)
        if crashed := self.suite.stack.crashed():
            raise SuiteFailed(f"{', '.join(crashed)} exited; see {self.suite.stack.logs_dir}")
        self.driver.check()
        return self.driver.counts["answered_late"] - late_before

    # --- warm-up ---------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        """Until every service's consumer group is assigned and answering (bounded): commands,
        then whole lifecycles when (b) is asked for. Not measured."""
        o = self.options
        self.say("warming up")
        deadline = time.perf_counter() + WARMUP_TIMEOUT_S
        tag = f"bench-{self.run_id}-warm"
        while True:
            sends = [
                await self.driver.send(open_contract(f"{tag}-{i}-{time.monotonic_ns()}"))
                for i in range(o.warmup_commands)
            ]
            remaining = max(1.0, deadline - time.perf_counter())
            answers = await asyncio.gather(*(answer_of(self.driver, s, remaining) for s in sends))
            if all(answers):
                break
            if time.perf_counter() > deadline:
                raise SuiteFailed("the escrow service did not answer while warming up")
        if o.wants("b"):
            for i in range(o.warmup_lifecycles):
                try:
                    await self.lifecycles.one(f"{tag}-life-{i}")
                except LifecycleFailed as exc:
                    raise SuiteFailed(f"a warm-up lifecycle failed at {exc}") from exc
        self.idle_cores = await self.resources.quiet_level(self.options.settle_s)
        self.results.meta["idle_cores"] = round(self.idle_cores, 2)
        idle = await self.resources.cores_by_process(1.0)
        self.results.meta["idle_cores_by_process"] = {n: round(c, 3) for n, c in idle.items()}
        self.say(f"warmed up; the idle suite uses {self.idle_cores:.2f} cores")

    def _sample_record(self) -> bytes:
        command = open_contract("bench-floor-sample-contract-0000")
        token = self.driver.token(EMPLOYER)
        return new_event(command, source=SOURCE, actortoken=token).encode()

    def _meta(self) -> dict[str, object]:
        o = self.options
        return {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "replicas": o.replicas,
            "quick": o.quick,
            "sections": sorted(o.sections),
            "duration_s": o.duration,
            "settings": "as shipped (make run): no test-only fast settings, fsync on",
            "var_dir": str(self.suite.stack.config.var_dir),
            "pids": self.suite.pids,
            "load_average_at_start": _load_average(),
        }


def _load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load: other work on it skews every figure."""
    return [round(x, 2) for x in os.getloadavg()]
