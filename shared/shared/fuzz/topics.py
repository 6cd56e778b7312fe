"""Which topics are fuzzed, and which of them could move money if a record on them were trusted.

Every topic some service consumes, read from the services' registered handlers through the
contract's own `consumers()` (the same source as `make asyncapi`), never a list kept here.
A topic is a money topic when a service that keeps a ledger (escrow, payments: DESIGN.md §3–§4)
consumes events on it: a forged event there that passes validation could move money today,
since events are not signed yet (issue 12 point 4), so the fuzzer sends none that would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from shared.contract.registry import COMMAND_TOPICS, SPECS, MessageModel

#: the services that keep money (a ledger); consumers of their own commands are token-guarded
MONEY_SERVICES = frozenset({"escrow", "payments"})


@dataclass(frozen=True)
class Topics:
    #: topic -> the services that consume it
    consumers: dict[str, list[str]]

    @property
    def names(self) -> list[str]:
        return sorted(self.consumers)

    @property
    def services(self) -> list[str]:
        return sorted({s for found in self.consumers.values() for s in found})

    def of(self, service: str) -> list[str]:
        return sorted(t for t, found in self.consumers.items() if service in found)

    def is_command_topic(self, topic: str) -> bool:
        return topic in COMMAND_TOPICS

    def is_money_topic(self, topic: str) -> bool:
        return not self.is_command_topic(topic) and bool(
            MONEY_SERVICES & set(self.consumers.get(topic, []))
        )

    def models(self, topic: str) -> list[MessageModel]:
        """The message types of a topic (one per event topic, several per command topic)."""
        return [s.model for s in SPECS.values() if s.topic == topic and s.kind != "result"]


def consumed_topics() -> Topics:
    """Build each service's app (no I/O) and read the topics its handlers registered."""
    from shared.contract.asyncapi import consumers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Topics(consumers())
