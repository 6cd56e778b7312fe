"""Everything one run measured, and its JSON form (`<var dir>/bench.json`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.bench.closed_loop import LoopResult
from shared.bench.floor import Floor
from shared.bench.lifecycle import LevelResult
from shared.bench.open_loop import RateResult
from shared.bench.profile import Profile
from shared.bench.resources import MB, Usage


@dataclass
class Results:
    meta: dict[str, Any] = field(default_factory=dict)
    floor: Floor | None = None
    closed: list[LoopResult] = field(default_factory=list)
    lifecycles: list[LevelResult] = field(default_factory=list)
    open: list[RateResult] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    #: peak RSS over the whole run, bytes by process
    peak_rss: dict[str, int] = field(default_factory=dict)
    #: the service processes (with replicas), as named in `peak_rss`
    services: list[str] = field(default_factory=list)
    driver: dict[str, int] = field(default_factory=dict)
    #: wall seconds the bench spent reading process counters
    reading_s: float = 0.0
    #: `--profile`: py-spy's samples of each service in the busiest steps, and what failed
    profiles: list[Profile] = field(default_factory=list)
    profile_errors: list[str] = field(default_factory=list)

    def peak_rss_mb(self) -> dict[str, float]:
        return {name: round(rss / MB, 1) for name, rss in self.peak_rss.items()}

    def as_json(self, targets: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "floor": self.floor.as_json() if self.floor else None,
            "closed_loop": [r.as_json() for r in self.closed],
            "lifecycles": [r.as_json() for r in self.lifecycles],
            "open_loop": [r.as_json() for r in self.open],
            "resources": {
                "phases": [u.as_json() for u in self.usages],
                "peak_rss_mb": self.peak_rss_mb(),
                "services": self.services,
                "bench_reading_counters_s": round(self.reading_s, 2),
            },
            "driver": self.driver,
            "profiles": [p.as_json() for p in self.profiles],
            "profile_errors": self.profile_errors,
            "targets": targets,
        }
