"""What the payments handlers need besides their message: settings, gateways, clock, database."""

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.clock import Clock
from shared.db import Database
from shared.http import Readers
from shared.loops import Alarm
from shared.signing import Signer

from payments.adapters.gateways.port import Gateways
from payments.settings import PaymentsSettings


@dataclass
class Dependencies:
    settings: PaymentsSettings
    gateways: Gateways
    db: Database
    clock: Clock
    #: signs what this service publishes (its producer is the messages' `source`)
    signer: Signer
    #: whose bearer tokens the read API takes
    readers: Readers
    #: wake the outbox relay after a commit made outside a consumed message
    nudge: Callable[[], None]
    #: wake the payout and refund workers: a commit queued a transfer due now
    payouts_due: Alarm = field(default_factory=Alarm)
    refunds_due: Alarm = field(default_factory=Alarm)
