"""CPU and memory of every process of the suite and of the bench itself (psutil).

CPU counters are read around each measured step; a sampler keeps each process's peak RSS, per
step and overall. PostgreSQL is the postmaster and all its children: the live ones are summed, and
the postmaster's `children_*` times hold those that already exited (each counted once). Its RSS is
the sum over the processes, so shared buffers are counted in every backend that touched them; the
sum of their PSS (`postgresql PSS`) counts each shared page once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BENCH = "bench"
#: processes whose children are part of them
TREES = frozenset({"postgresql"})
MB = 1024 * 1024
PSS = "PSS"
#: PSS is read on every this many samples (and at each step's start and end)
PSS_EVERY = 8


def _own_cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def child_pids(pid: int) -> list[int]:
    """A process's children: from `/proc/<pid>/task/*/children` (cheap), else through psutil
    (which scans every process of the machine)."""
    try:
        return [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except (OSError, ValueError):
        with contextlib.suppress(psutil.Error):
            return [child.pid for child in psutil.Process(pid).children()]
        return []


class Tree:
    """A process and its descendants, the psutil handles kept between readings."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self._known: dict[int, psutil.Process] = {}

    def members(self) -> list[psutil.Process]:
        pids, pending = [], [self.root.pid]
        while pending:
            children = child_pids(pending.pop())
            pids += children
            pending += children
        for pid in pids:
            if pid not in self._known:
                with contextlib.suppress(psutil.Error):
                    self._known[pid] = psutil.Process(pid)
        self._known = {pid: self._known[pid] for pid in pids if pid in self._known}
        return [self.root, *self._known.values()]

    def cpu(self) -> float:
        """CPU seconds of the live members, plus the exited children the root has reaped."""
        live = 0.0
        for child in self.members()[1:]:
            with contextlib.suppress(psutil.Error):
                live += _own_cpu(child)
        times = self.root.cpu_times()
        return float(times.children_user + times.children_system) + _own_cpu(self.root) + live

    def rss(self) -> int:
        """RSS summed over the members: shared pages count in every process that maps them."""
        total = 0
        for member in self.members():
            with contextlib.suppress(psutil.Error):
                total += int(member.memory_info().rss)
        return total

    def pss(self) -> int:
        """PSS summed over the members: shared pages shared out, what the tree really holds.
        Costly (the kernel walks every mapping): read seldom."""
        total = 0
        for member in self.members():
            with contextlib.suppress(psutil.Error):
                found = member.memory_full_info()
                total += int(getattr(found, "pss", found.rss))
        return total


@dataclass
class Usage:
    """What one measured step cost: CPU ms per process, its peak RSS, and how much work it did."""

    phase: str
    work: int
    unit: str
    cpu_ms: dict[str, float]
    peak_rss_mb: dict[str, float]
    wall_s: float

    def per_unit_ms(self, name: str) -> float | None:
        return self.cpu_ms[name] / self.work if self.work and name in self.cpu_ms else None

    def as_json(self) -> dict[str, object]:
        return {
            "phase": self.phase,
            "work": self.work,
            "unit": self.unit,
            "wall_s": round(self.wall_s, 3),
            "cpu_ms": {k: round(v, 1) for k, v in self.cpu_ms.items()},
            "cpu_ms_per_unit": {k: self.per_unit_ms(k) for k in self.cpu_ms},
            "peak_rss_mb": self.peak_rss_mb,
        }


@dataclass
class Step:
    phase: str
    started: float
    cpu: dict[str, float]
    peaks: dict[str, int] = field(default_factory=dict)


class Resources:
    """Watches the suite's processes (`pids` by name) and the bench's own."""

    def __init__(self, pids: dict[str, int], *, interval_s: float = 0.5) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.processes[BENCH] = psutil.Process()
        self.trees = {name: Tree(p) for name, p in self.processes.items() if name in TREES}
        self.interval_s = interval_s
        self.peak_rss: dict[str, int] = {}
        self.usages: list[Usage] = []
        #: CPU seconds the bench spent reading counters (its cost of measuring)
        self.reading_s = 0.0
        self._step: Step | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.processes)

    # --- reading ---------------------------------------------------------------------------

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) spent so far, by process."""
        started = time.thread_time()
        found = {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                tree = self.trees.get(name)
                found[name] = tree.cpu() if tree else _own_cpu(process)
        self.reading_s += time.thread_time() - started
        return found

    def rss(self, *, pss: bool = False) -> dict[str, int]:
        """RSS by process (a tree summed); with `pss`, a tree's PSS sum too (`<name> PSS`)."""
        found = {}
        for name, process in self.processes.items():
            with contextlib.suppress(psutil.Error):
                if tree := self.trees.get(name):
                    found[name] = tree.rss()
                    if pss:
                        found[f"{name} {PSS}"] = tree.pss()
                else:
                    found[name] = int(process.memory_info().rss)
        return found

    def sample(self, *, pss: bool = False) -> None:
        started = time.thread_time()
        for name, rss in self.rss(pss=pss).items():
            self.peak_rss[name] = max(self.peak_rss.get(name, 0), rss)
            if self._step is not None:
                self._step.peaks[name] = max(self._step.peaks.get(name, 0), rss)
        self.reading_s += time.thread_time() - started

    async def start(self) -> None:
        self.sample(pss=True)
        self._task = asyncio.create_task(self._sampling(), name="bench rss sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sampling(self) -> None:
        for count in itertools.count(1):
            await asyncio.sleep(self.interval_s)
            self.sample(pss=count % PSS_EVERY == 0)

    # --- steps -----------------------------------------------------------------------------

    def begin(self, phase: str) -> None:
        self._step = Step(phase, time.perf_counter(), self.cpu())
        self.sample(pss=True)

    def end(self, work: int, unit: str) -> Usage:
        """Close the step begun last; `work` commands (or `unit`s) were done in it."""
        assert self._step is not None, "end() without begin()"
        self.sample(pss=True)
        step, after = self._step, self.cpu()
        self._step = None
        usage = Usage(
            phase=step.phase,
            work=work,
            unit=unit,
            cpu_ms={n: (after[n] - step.cpu[n]) * 1000 for n in after if n in step.cpu},
            peak_rss_mb={n: round(v / MB, 1) for n, v in step.peaks.items()},
            wall_s=time.perf_counter() - step.started,
        )
        self.usages.append(usage)
        return usage

    async def cores_by_process(self, window_s: float) -> dict[str, float]:
        """How many cores each process uses over `window_s`."""
        before = self.cpu()
        started = time.perf_counter()
        await asyncio.sleep(window_s)
        after, elapsed = self.cpu(), time.perf_counter() - started
        return {n: (after[n] - before[n]) / elapsed for n in after if n in before}

    async def busy_cores(self, window_s: float) -> float:
        """How many cores the suite's processes (the bench excluded) use over `window_s`."""
        found = await self.cores_by_process(window_s)
        return sum(cores for name, cores in found.items() if name != BENCH)

    async def quiet_level(self, max_wait_s: float, window_s: float = 0.5) -> float:
        """What the suite uses when nothing is asked of it (cores): the lowest of successive
        windows, read until two agree (within 0.05 cores) or `max_wait_s` is over."""
        readings: list[float] = []
        started = time.perf_counter()
        while len(readings) < 2 or time.perf_counter() - started < max_wait_s:
            readings.append(await self.busy_cores(window_s))
            if len(readings) >= 2 and abs(readings[-1] - readings[-2]) <= 0.05:
                break
        return min(readings)

    async def settle(self, max_wait_s: float, idle_cores: float) -> float:
        """Wait (at most `max_wait_s`) until the suite uses no more than `idle_cores`: work a
        step caused (relays, consumers downstream) is then charged to that step. Returns the
        seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < max_wait_s:
            if await self.busy_cores(0.25) <= idle_cores:
                break
        return time.perf_counter() - started
