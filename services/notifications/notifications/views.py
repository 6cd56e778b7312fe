"""The delivery log, read-only (the read side, as in Cosmic Python's `views`): what the HTTP API
and `escrowctl notifications` show. Plain dictionaries, newest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.adapters.tables import deliveries, notices


async def delivery_log(
    session: AsyncSession,
    *,
    event_id: str | None = None,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = _entries().order_by(deliveries.c.id.desc()).limit(limit)
    if event_id:
        query = query.where(deliveries.c.event_id == event_id)
    if user_id:
        query = query.where(deliveries.c.user_id == user_id)
    if status:
        query = query.where(deliveries.c.status == status)
    return [dict(r._mapping) for r in await session.execute(query)]


async def delivery_entry(session: AsyncSession, delivery_id: int) -> dict[str, Any] | None:
    row = (await session.execute(_entries().where(deliveries.c.id == delivery_id))).first()
    return dict(row._mapping) if row else None


def _entries() -> sa.Select[Any]:
    return sa.select(
        deliveries.c.id,
        deliveries.c.event_id,
        notices.c.event_type,
        deliveries.c.user_id,
        notices.c.role,
        notices.c.template,
        deliveries.c.channel,
        deliveries.c.status,
        deliveries.c.attempts,
        deliveries.c.last_error,
        deliveries.c.created_at,
        deliveries.c.due_at,
        deliveries.c.sent_at,
        deliveries.c.updated_at,
    ).join(notices, deliveries.c.notice_id == notices.c.id)
