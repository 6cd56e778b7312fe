"""The delivery loop: take due deliveries, send each through its channel, record the outcome.

Sending happens outside any transaction (a slow SMTP server must not hold row locks): a
delivery is claimed by pushing its due time past a lease, sent, then its outcome is recorded
under a row lock. A process that dies mid-send leaves the lease to expire and the delivery is
tried again; that one resend is the price of never losing a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.clock import Clock
from shared.db import Database
from shared.loops import Alarm

from notifications import metrics
from notifications.adapters.channels import Channel, ChannelError
from notifications.adapters.repository import Repository
from notifications.domain.delivery import FINAL, RetrySchedule, Status
from notifications.domain.facts import Presentation
from notifications.service_layer.letters import compose
from notifications.service_layer.notices import dispatch, give_up

log = logging.getLogger(__name__)


@dataclass
class Deliverer:
    db: Database
    channels: Mapping[str, Channel]
    clock: Clock
    schedule: RetrySchedule
    presentation: Presentation
    lease: timedelta
    batch_size: int = 20
    #: rung when this process committed new deliveries: look now, not at the next due time
    alarm: Alarm = field(default_factory=Alarm)

    def nudge(self) -> None:
        self.alarm.ring()

    async def run_once(self) -> datetime | None:
        """One round: settle waiting notices, then send what is due; returns when the next
        delivery or waiting notice falls due."""
        now = self.clock.now()
        swept = await self.sweep_waiting()
        async with self.db.transaction() as session:
            due = await Repository(session).claim_due(now, self.batch_size, self.lease)
        await asyncio.gather(*(self.deliver(delivery_id) for delivery_id in due))
        if swept >= self.batch_size or len(due) >= self.batch_size:
            return now  # a full batch: more may be waiting
        async with self.db.transaction() as session:  # after the outcomes: a retry is due soon
            return await Repository(session).next_due()

    async def sweep_waiting(self) -> int:
        """Dispatch notices whose contact arrived meanwhile, give up those waiting too long.

        The first case is a race between replicas: an event noted in one transaction while the
        contact was saved in another, neither seeing the other's uncommitted row.
        """
        async with self.db.transaction() as session:
            repo, now = Repository(session), self.clock.now()
            found = await repo.waiting_with_contact(self.batch_size)
            for notice in found:
                contact = await repo.contact(notice.user_id)
                if contact is not None:
                    await dispatch(repo, notice, contact, now)
            expired = await repo.expired_notices(now, self.batch_size)
            for notice in expired:
                await give_up(repo, notice, now)
        return len(found) + len(expired)

    async def deliver(self, delivery_id: int) -> None:
        async with self.db.transaction() as session:
            repo = Repository(session)
            delivery = await repo.delivery(delivery_id)
            notice = await repo.notice_of(delivery_id)
            contact = await repo.contact(notice.user_id)
        if delivery.status is not Status.PENDING or (contact is not None and contact.erased):
            return  # an erasure committed meanwhile gave it up
        error, permanent = None, False
        try:
            letter = compose(delivery.id, delivery.channel, notice, contact, self.presentation)
            await self._channel(delivery.channel).send(letter)
        except ChannelError as exc:
            error, permanent = str(exc), exc.permanent
        except Exception as exc:  # a bug must be recorded on the delivery, not kill the loop
            log.exception("delivery %s failed unexpectedly", delivery_id)
            error = f"{type(exc).__name__}: {exc}"
        await self.record(delivery_id, error, permanent=permanent)

    async def record(self, delivery_id: int, error: str | None, *, permanent: bool) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            repo = Repository(session)
            delivery = await repo.delivery(delivery_id)
            if delivery.status in FINAL:
                return
            if error is None:
                delivery.succeeded(now)
                latency = delivery.latency or timedelta(0)
                metrics.DELIVERY_SECONDS.labels(delivery.channel).observe(latency.total_seconds())
            elif delivery.attempt_failed(error, now, self.schedule, permanent=permanent):
                metrics.RETRIES.labels(delivery.channel).inc()
                log.info("delivery %s will be retried: %s", delivery_id, error)
            await repo.record(delivery, now)
        if delivery.status in FINAL:
            metrics.NOTIFICATIONS.labels(delivery.channel, delivery.status.value).inc()

    def _channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            raise ChannelError(f"the {name} channel is not configured", permanent=True)
        return channel
