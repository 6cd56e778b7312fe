"""What the payments handlers need besides their message: settings, gateways, clock, database."""

from collections.abc import Callable
from dataclasses import dataclass

from shared.clock import Clock
from shared.db import Database

from payments.adapters.gateways.port import Gateways
from payments.settings import PaymentsSettings


@dataclass
class Dependencies:
    settings: PaymentsSettings
    gateways: Gateways
    db: Database
    clock: Clock
    #: the CloudEvents `source` of what this service publishes
    source: str
    #: wake the outbox relay after a commit made outside a consumed message
    nudge: Callable[[], None]
