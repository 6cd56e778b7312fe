"""Inbox: a consumed message's id is stored in the same transaction as its effect."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.envelope import CloudEvent
from shared.messaging.tables import inbox


@dataclass(frozen=True)
class Seen:
    """What the inbox remembers of a message id it has already processed."""

    fingerprint: str
    result: dict[str, Any] | None


def fingerprint(event: CloudEvent) -> str:
    """The body's identity: type and data, canonically serialised (the token is not part of it)."""
    canonical = json.dumps(
        {"type": event.type, "data": event.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(session: AsyncSession, event: CloudEvent, topic: str) -> Seen | None:
    """Record the message as processed; returns what was stored before if it is a redelivery.

    A concurrent claim of the same id waits on the primary key until the first commits.
    """
    print_ = fingerprint(event)
    inserted = await session.execute(
        insert(inbox)
        .values(message_id=event.id, type=event.type, topic=topic, fingerprint=print_)
        .on_conflict_do_nothing(index_elements=[inbox.c.message_id])
        .returning(inbox.c.message_id)
    )
    if inserted.first() is not None:
        return None
    row = (
        await session.execute(
            sa.select(inbox.c.fingerprint, inbox.c.result).where(inbox.c.message_id == event.id)
        )
    ).one()
    return Seen(row.fingerprint, row.result)


async def remember_result(session: AsyncSession, message_id: str, result: dict[str, Any]) -> None:
    await session.execute(
        sa.update(inbox).where(inbox.c.message_id == message_id).values(result=result)
    )
