"""Where the notifications service touches its database: contacts, notices and deliveries.

Every method works inside the caller's transaction (the inbox claim's, or one of the delivery
loop's), so a notice and its deliveries commit together with the consumed message or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from shared.sealing import ring_of
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.adapters.tables import contacts, deliveries, notices
from notifications.domain.contacts import Contact
from notifications.domain.delivery import Delivery, Status


@dataclass(frozen=True)
class Notice:
    """What one person must be told about one event."""

    id: int
    event_id: str
    event_type: str
    event: dict[str, Any]
    user_id: str
    role: str
    template: str
    kind: str
    state: str
    created_at: datetime


# Built once and executed with parameters: building a statement with `.values(...)` costs more CPU
# than executing the cached one, and these run for every recipient of every event.
_CONTACT = sa.select(contacts).where(contacts.c.user_id == sa.bindparam("user_id"))
_ADD_NOTICE = (
    insert(notices)
    .on_conflict_do_nothing(constraint="uq_notices_event_recipient")
    .returning(notices.c.id)
)


#: the error a delivery is left with when its person's details were erased
ERASED = "the person's contact details were erased"


def _secret_context(user_id: str) -> str:
    """What a webhook secret is sealed to (`shared.sealing`): its column and its user."""
    return f"contacts.webhook_secret:{user_id}"


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- contacts ---------------------------------------------------------------------------

    async def save_contact(self, contact: Contact, published_at: datetime) -> bool:
        """Keep `contact` unless a newer record is already kept; returns whether it was kept."""
        values = {
            "user_id": contact.user_id,
            "display_name": contact.display_name,
            "language": contact.language,
            "email": contact.email,
            "phone": contact.phone,
            "webhook_url": contact.webhook_url,
            "webhook_secret": None
            if contact.webhook_secret is None
            else ring_of(self.session).seal(
                contact.webhook_secret, _secret_context(contact.user_id)
            ),
            "channels": contact.channels,
            "published_at": published_at,
            "erased_at": None,  # details published after an erasure are kept again
        }
        return await self._keep_newer(values, keep=("user_id",))

    async def erase_contact(self, user_id: str, erased_at: datetime) -> bool:
        """Forget what the directory published of `user_id`, unless newer details are kept:
        the details are emptied and the row stays, stamped with the erasure's time (so older
        details copied back later lose to it); what was still to be sent to them is given up,
        and their deliveries' error texts, which may quote an address, are dropped. Returns
        whether the erasure was kept."""
        values = {
            "user_id": user_id,
            "display_name": "",
            "language": "fa",
            "email": None,
            "phone": None,
            "webhook_url": None,
            "webhook_secret": None,
            "channels": {},
            "published_at": erased_at,
            "erased_at": erased_at,
        }
        if not await self._keep_newer(values, keep=("user_id", "language")):
            return False
        mine = deliveries.c.user_id == user_id
        await self.session.execute(
            sa.update(deliveries)
            .where(mine, deliveries.c.status == Status.PENDING.value)
            .values(status=Status.UNDELIVERABLE.value, last_error=ERASED, updated_at=erased_at)
        )
        await self.session.execute(
            sa.update(deliveries)
            .where(mine, deliveries.c.last_error.is_not(None), deliveries.c.last_error != ERASED)
            .values(last_error=ERASED)
        )
        return True

    async def _keep_newer(self, values: dict[str, Any], *, keep: tuple[str, ...]) -> bool:
        """Insert a person's row, or overwrite all but `keep` of it unless what is kept was
        published later; returns whether `values` were kept."""
        statement = insert(contacts).values(values)
        upsert = statement.on_conflict_do_update(
            index_elements=[contacts.c.user_id],
            set_={
                **{k: statement.excluded[k] for k in values if k not in keep},
                "updated_at": sa.func.now(),
            },
            where=contacts.c.published_at <= statement.excluded.published_at,
        ).returning(contacts.c.user_id)
        return (await self.session.execute(upsert)).first() is not None

    async def contact(self, user_id: str) -> Contact | None:
        row = (await self.session.execute(_CONTACT, {"user_id": user_id})).first()
        if row is None:
            return None
        return Contact(
            user_id=row.user_id,
            language=row.language,
            display_name=row.display_name,
            email=row.email,
            phone=row.phone,
            webhook_url=row.webhook_url,
            webhook_secret=None
            if row.webhook_secret is None
            else ring_of(self.session).open(row.webhook_secret, _secret_context(row.user_id)),
            channels=row.channels,
            erased=row.erased_at is not None,
        )

    # --- notices ----------------------------------------------------------------------------

    async def add_notice(self, values: dict[str, Any]) -> int | None:
        """Insert a notice; `None` when this person was already noted for this event."""
        inserted = await self.session.execute(_ADD_NOTICE, values)
        return inserted.scalar()

    async def notice(self, notice_id: int) -> Notice:
        row = (
            await self.session.execute(sa.select(notices).where(notices.c.id == notice_id))
        ).one()
        return _notice(row)

    async def waiting_notices(self, user_id: str) -> list[Notice]:
        rows = await self.session.execute(
            sa.select(notices)
            .where(notices.c.user_id == user_id, notices.c.state == "waiting")
            .order_by(notices.c.id)
            .with_for_update()
        )
        return [_notice(r) for r in rows]

    async def waiting_with_contact(self, limit: int) -> list[Notice]:
        """Notices still waiting although their person's details are known (see `delivering`)."""
        rows = await self.session.execute(
            sa.select(notices)
            .join(contacts, contacts.c.user_id == notices.c.user_id)
            .where(notices.c.state == "waiting")
            .order_by(notices.c.id)
            .limit(limit)
            .with_for_update(of=notices, skip_locked=True)
        )
        return [_notice(r) for r in rows]

    async def expired_notices(self, now: datetime, limit: int) -> list[Notice]:
        rows = await self.session.execute(
            sa.select(notices)
            .where(notices.c.state == "waiting", notices.c.expires_at <= now)
            .order_by(notices.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_notice(r) for r in rows]

    async def mark_notice(self, notice_id: int, state: str) -> None:
        await self.session.execute(
            sa.update(notices).where(notices.c.id == notice_id).values(state=state)
        )

    # --- deliveries -------------------------------------------------------------------------

    async def add_delivery(
        self,
        notice: Notice,
        channel: str,
        now: datetime,
        *,
        status: Status = Status.PENDING,
        error: str | None = None,
    ) -> int | None:
        """Insert one delivery; `None` when (event, recipient, channel) already has one."""
        inserted = await self.session.execute(
            insert(deliveries)
            .values(
                notice_id=notice.id,
                event_id=notice.event_id,
                user_id=notice.user_id,
                channel=channel,
                status=status.value,
                last_error=error,
                created_at=now,
                due_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_deliveries_event_recipient")
            .returning(deliveries.c.id)
        )
        return inserted.scalar()

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[int]:
        """Take due deliveries for this worker: moving `due_at` past the lease hides them from
        other workers while they are sent, and brings them back if this one dies mid-send."""
        due = (
            sa.select(deliveries.c.id)
            .where(deliveries.c.status == Status.PENDING.value, deliveries.c.due_at <= now)
            .order_by(deliveries.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = await self.session.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_(due))
            .values(due_at=now + lease)
            .returning(deliveries.c.id)
        )
        return sorted(claimed.scalars())

    async def next_due(self) -> datetime | None:
        """When the next pending delivery or waiting notice falls due (both partial indexes)."""
        due: datetime | None = await self.session.scalar(_NEXT_DUE)
        return due

    async def delivery(self, delivery_id: int) -> Delivery:
        row = (
            await self.session.execute(
                sa.select(deliveries).where(deliveries.c.id == delivery_id).with_for_update()
            )
        ).one()
        return Delivery(
            id=row.id,
            channel=row.channel,
            status=Status(row.status),
            attempts=row.attempts,
            created_at=row.created_at,
            due_at=row.due_at,
            last_error=row.last_error,
            sent_at=row.sent_at,
        )

    async def notice_of(self, delivery_id: int) -> Notice:
        row = (
            await self.session.execute(
                sa.select(notices)
                .join(deliveries, deliveries.c.notice_id == notices.c.id)
                .where(deliveries.c.id == delivery_id)
            )
        ).one()
        return _notice(row)

    async def record(self, delivery: Delivery, now: datetime) -> None:
        await self.session.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery.id)
            .values(
                status=delivery.status.value,
                attempts=delivery.attempts,
                last_error=delivery.last_error,
                due_at=delivery.due_at,
                sent_at=delivery.sent_at,
                updated_at=now,
            )
        )


def _notice(row: Any) -> Notice:
    return Notice(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        event=row.event,
        user_id=row.user_id,
        role=row.role,
        template=row.template,
        kind=row.kind,
        state=row.state,
        created_at=row.created_at,
    )


_NEXT_DUE = sa.select(
    sa.func.least(
        sa.select(sa.func.min(deliveries.c.due_at))
        .where(deliveries.c.status == Status.PENDING.value)
        .scalar_subquery(),
        sa.select(sa.func.min(notices.c.expires_at))
        .where(notices.c.state == "waiting")
        .scalar_subquery(),
    )
)
