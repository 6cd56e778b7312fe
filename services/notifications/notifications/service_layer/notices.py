"""From a consumed event to notices and deliveries, in the transaction of the inbox claim.

A notice waits while its recipient's contact details are unknown; the contact's arrival, in its
own consumed message, dispatches it; the delivery loop gives it up after `undeliverable_after`.
Inserts are `on conflict do nothing` on (event, recipient[, channel]), so however often an event
arrives, one message per (event, recipient, channel) exists.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.contract.base import Event
from shared.contract.directory import UserContactUpdated
from shared.contract.tombstone import Tombstone
from shared.messaging.runtime import HandlerContext

from notifications import metrics
from notifications.adapters.repository import ERASED, Notice, Repository
from notifications.domain.amounts import Language
from notifications.domain.contacts import NO_CHANNEL, Contact
from notifications.domain.delivery import Status
from notifications.domain.rules import recipients

log = logging.getLogger(__name__)


async def notify(event: Event, ctx: HandlerContext, *, undeliverable_after: timedelta) -> None:
    """Note everyone the rules name, and dispatch at once to those whose details are known."""
    repo, now = Repository(ctx.session), ctx.clock.now()
    for recipient in recipients(event):
        notice_id = await repo.add_notice(
            {
                "event_id": ctx.cause.id,
                "event_type": ctx.cause.type,
                "event": ctx.cause.model_dump(mode="json"),
                "user_id": recipient.user_id,
                "role": recipient.role.value,
                "template": recipient.template,
                "kind": recipient.kind.value,
                "state": "waiting",
                "created_at": now,
                "expires_at": now + undeliverable_after,
            }
        )
        if notice_id is None:
            continue  # already noted for this event: never a second message
        contact = await repo.contact(recipient.user_id)
        if contact is not None:
            await dispatch(repo, await repo.notice(notice_id), contact, now)


async def remember_contact(
    update: UserContactUpdated, ctx: HandlerContext, *, default_language: Language
) -> None:
    """Keep the newest details, then send what was waiting for them."""
    repo, now = Repository(ctx.session), ctx.clock.now()
    # The model defaults a missing language to Persian; the deployment's default decides instead.
    language = update.language if "language" in ctx.cause.data else default_language
    contact = Contact(
        user_id=update.user_id,
        language=language,
        display_name=update.display_name,
        email=update.email,
        phone=update.phone,
        webhook_url=update.webhook_url,
        webhook_secret=update.webhook_secret,
        channels={kind: list(channels) for kind, channels in update.channels.items()},
    )
    if not await repo.save_contact(contact, ctx.cause.time):
        return  # an older record than the one kept
    for notice in await repo.waiting_notices(update.user_id):
        await dispatch(repo, notice, contact, now)


async def erase_contact(tombstone: Tombstone, ctx: HandlerContext) -> None:
    """The directory deleted a person (a tombstone on `user-contacts`): forget their details,
    send them nothing more, unless details published after the erasure are kept."""
    if await Repository(ctx.session).erase_contact(tombstone.key, tombstone.time):
        log.info("erased the contact details of a person (%d chars of user id)", len(tombstone.key))


async def dispatch(repo: Repository, notice: Notice, contact: Contact, now: datetime) -> None:
    """One delivery per channel the person wants for this kind of message; none to a person
    whose details were erased (recorded undeliverable)."""
    if contact.erased:
        if await repo.add_delivery(
            notice, NO_CHANNEL, now, status=Status.UNDELIVERABLE, error=ERASED
        ):
            _count_undeliverable(NO_CHANNEL)
        await repo.mark_notice(notice.id, "undeliverable")
        return
    for channel in contact.channels_for(notice.kind):
        if contact.address(channel) is not None:
            await repo.add_delivery(notice, channel, now)
        elif await repo.add_delivery(
            notice, channel, now, status=Status.UNDELIVERABLE, error=f"no {channel} address"
        ):
            _count_undeliverable(channel)
    await repo.mark_notice(notice.id, "dispatched")


async def give_up(repo: Repository, notice: Notice, now: datetime) -> None:
    """No contact details arrived in time: recorded as an undeliverable delivery."""
    error = f"no contact details for {notice.user_id} by {now.isoformat()}"
    if await repo.add_delivery(notice, NO_CHANNEL, now, status=Status.UNDELIVERABLE, error=error):
        _count_undeliverable(NO_CHANNEL)
    await repo.mark_notice(notice.id, "undeliverable")


def _count_undeliverable(channel: str) -> None:
    metrics.UNDELIVERABLE.labels(channel).inc()
    metrics.NOTIFICATIONS.labels(channel, Status.UNDELIVERABLE.value).inc()
