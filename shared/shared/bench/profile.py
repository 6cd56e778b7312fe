"""`--profile`: where each service spends its CPU under load, sampled by py-spy.

During the busiest step of the closed loop (a) and of the lifecycles (b), py-spy samples every
service process (`--nonblocking`: the process is never paused, at the price of an occasional
torn stack) and writes its stacks to `<var dir>/profile-<step>-<process>.txt` (collapsed stacks,
the input of flamegraph tools and speedscope). The table then gives, per process, the share of
its busy samples by where the innermost frame was (the library, the suite's own code, the
standard library: self time) and by what was on the stack at all (cumulative), and its
busiest functions. Idle samples (a thread waiting) are not taken, so the shares are of CPU.

py-spy needs the right to trace the processes (ptrace: the same user, and
`kernel.yama.ptrace_scope` ≤ 1 or CAP_SYS_PTRACE); where it has none, the step says so and the
run goes on without a profile.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: samples a second per process: enough for shares within a percent or two in a 5 s step
RATE = 100
#: the suite's own packages, by the folder their source lives in
OWN = ("shared", "escrow", "payments", "disputes", "notifications")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_SITE = re.compile(r"/site-packages/(?P<package>[A-Za-z0-9_]+)")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?P<module>[A-Za-z0-9_]+)")


@dataclass
class Profile:
    """One process's samples in one step."""

    step: str
    process: str
    path: str
    samples: int = 0
    #: busy samples by where their innermost frame was
    self_by_area: Counter[str] = field(default_factory=Counter)
    #: busy samples by each area on their stack (a sample counts once per area)
    total_by_area: Counter[str] = field(default_factory=Counter)
    #: busy samples by innermost function
    self_by_function: Counter[str] = field(default_factory=Counter)

    def share(self, count: int) -> float:
        return count / self.samples if self.samples else 0.0

    def as_json(self, top: int = 15) -> dict[str, Any]:
        return {
            "step": self.step,
            "process": self.process,
            "stacks": self.path,
            "samples": self.samples,
            "self_by_area": {
                a: round(self.share(n), 3) for a, n in self.self_by_area.most_common()
            },
            "total_by_area": {
                a: round(self.share(n), 3) for a, n in self.total_by_area.most_common()
            },
            "top_functions": {
                f: round(self.share(n), 3) for f, n in self.self_by_function.most_common(top)
            },
        }


def area(file: str) -> str:
    """Where a frame's source lives: a third-party package, the suite's own code (by package),
    a module of the standard library (asyncio apart, as the event loop), or `other`."""
    if found := _SITE.search(file):
        package = found["package"].lower()
        return f"suite:{package}" if package in OWN else package
    for own in OWN:
        if f"/{own}/{own}/" in file:  # the source tree: shared/shared/…, services/escrow/escrow/…
            return f"suite:{own}"
    if found := _STDLIB.search(file):
        return "asyncio" if found["module"] == "asyncio" else "stdlib"
    return "other"


def read(path: Path, step: str, process: str) -> Profile:
    """Parse py-spy's collapsed stacks (`frame;frame;… count`, outermost first)."""
    profile = Profile(step, process, str(path))
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_FRAME.match(frame) for frame in stack.split(";")]
        parsed = [(m["function"], m["file"]) for m in frames if m]
        if not parsed:
            continue
        profile.samples += count
        function, file = parsed[-1]
        inner = area(file)
        profile.self_by_area[inner] += count
        profile.self_by_function[f"{function} ({_short(file)})"] += count
        for found in {area(f) for _, f in parsed}:
            profile.total_by_area[found] += count
    return profile


def _short(file: str) -> str:
    if found := _SITE.search(file):
        return file[found.start() + len("/site-packages/") :]
    for own in OWN:
        if (at := file.find(f"/{own}/{own}/")) >= 0:
            return file[at + len(own) + 2 :]
    return Path(file).name


def available() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampler:
    """py-spy on every service process for one step."""

    def __init__(self, var_dir: Path, pids: dict[str, int], duration_s: float) -> None:
        self.var_dir = var_dir
        self.pids = pids
        self.duration_s = duration_s
        self._running: list[tuple[str, Path, asyncio.subprocess.Process]] = []
        self.step = ""
        self.errors: list[str] = []

    async def start(self, step: str) -> None:
        executable = available()
        if executable is None:
            self.errors.append("py-spy is not installed (make install puts it in .venv)")
            return
        self.step = step
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        for process, pid in self.pids.items():
            out = self.var_dir / f"profile-{slug}-{process}.txt"
            spy = await asyncio.create_subprocess_exec(
                executable,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(RATE),
                "--duration",
                str(max(1, round(self.duration_s))),
                "--nonblocking",
                "--full-filenames",
                "--format",
                "raw",
                "--output",
                str(out),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            self._running.append((process, out, spy))

    async def finish(self) -> list[Profile]:
        """Wait for the samplers (each stops after the step's duration) and read them."""
        found = []
        for process, out, spy in self._running:
            try:
                _, stderr = await asyncio.wait_for(spy.communicate(), self.duration_s + 30)
            except TimeoutError:
                spy.kill()
                self.errors.append(f"py-spy on {process} did not finish")
                continue
            if spy.returncode != 0 or not out.exists():
                reason = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
                self.errors.append(f"py-spy on {process}: {reason[0]}")
                continue
            found.append(read(out, self.step, process))
        self._running = []
        return found
