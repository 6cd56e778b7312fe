"""The dispute's timeline: an append-only record of every step, readable in full by both parties.

Entries are frozen and their details are frozen deep copies, so nothing a caller still holds
(or gets back from `entries`) can rewrite history.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .actors import Actor


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    actor: Actor
    kind: str
    details: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor.as_dict(),
            "kind": self.kind,
            "details": thaw(self.details),
        }


class Timeline:
    def __init__(self, entries: Iterable[TimelineEntry] = ()) -> None:
        self._entries: list[TimelineEntry] = list(entries)

    def append(self, at: datetime, actor: Actor, kind: str, details: Mapping[str, Any]) -> None:
        seq = len(self._entries) + 1
        self._entries.append(TimelineEntry(seq, at, actor, kind, freeze(details)))

    @property
    def entries(self) -> tuple[TimelineEntry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def freeze(value: Any) -> Any:
    """A read-only deep copy: mappings become mapping proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """A plain (JSON-shaped) deep copy of a frozen value."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value
