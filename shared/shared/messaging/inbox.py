"""Inbox: a consumed message's id is stored in the same transaction as its effect.

The inbox is pruned: a row is forgotten `INBOX_RETENTION_S` after its message was processed
(`prune`). That is safe because the runtime refuses (`too_old`) any record whose signed `time`
is older than `MAX_RECORD_AGE_S`, which settings keep at least a day shorter than the retention:
a copy arriving after its row was pruned is always refused, never applied a second time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contract.envelope import CloudEvent
from shared.messaging.tables import inbox

DAY_S = 86_400
#: the defaults of `INBOX_RETENTION_S` and `MAX_RECORD_AGE_S` (settings)
INBOX_RETENTION_S = 60 * DAY_S
MAX_RECORD_AGE_S = 30 * DAY_S


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


async def claim_many(
    session: AsyncSession, events: Sequence[tuple[CloudEvent, str]]
) -> tuple[set[str], dict[str, Seen]]:
    """Claim many messages in one statement: (the ids claimed now, what was stored for the rest).

    Each id is claimed once even if it occurs twice in `events`. A concurrent claim of one of
    these ids (another lane or replica) waits on the primary key until that transaction ends.
    """
    unique: dict[str, dict[str, str]] = {}
    for event, topic in events:
        unique.setdefault(
            event.id,
            {
                "message_id": event.id,
                "type": event.type,
                "topic": topic,
                "fingerprint": fingerprint(event),
            },
        )
    if not unique:
        return set(), {}
    inserted = await session.execute(_CLAIM, list(unique.values()))
    fresh = {row[0] for row in inserted}
    others = [message_id for message_id in unique if message_id not in fresh]
    if not others:
        return fresh, {}
    rows = await session.execute(_STORED, {"ids": others})
    return fresh, {row.message_id: Seen(row.fingerprint, row.result) for row in rows}


async def release(session: AsyncSession, message_ids: Sequence[str]) -> None:
    """Forget claims whose effect was rolled back, so the message is handled again later."""
    if message_ids:
        await session.execute(_RELEASE, {"ids": list(message_ids)})


async def remember_results(
    session: AsyncSession, results: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    """Store many commands' results in one round trip."""
    if not results:
        return
    await session.execute(
        _REMEMBER,
        [{"claimed_id": message_id, "claimed_result": result} for message_id, result in results],
    )


async def prune(session: AsyncSession, before: datetime, limit: int) -> int:
    """Forget up to `limit` messages processed before `before`, oldest first; how many."""
    pruned = await session.execute(_PRUNE, {"before": before, "limit": limit})
    return len(pruned.all())


# Built once: building a statement costs more CPU than executing a cached one.
_CLAIM = (
    insert(inbox)
    .on_conflict_do_nothing(index_elements=[inbox.c.message_id])
    .returning(inbox.c.message_id)
)
_STORED = sa.select(inbox.c.message_id, inbox.c.fingerprint, inbox.c.result).where(
    inbox.c.message_id.in_(sa.bindparam("ids", expanding=True))
)
_RELEASE = sa.delete(inbox).where(inbox.c.message_id.in_(sa.bindparam("ids", expanding=True)))
_OLDEST = (
    sa.select(inbox.c.message_id)
    .where(inbox.c.processed_at < sa.bindparam("before"))
    .order_by(inbox.c.processed_at)
    .limit(sa.bindparam("limit"))
)
_PRUNE = (
    sa.delete(inbox)
    .where(inbox.c.message_id.in_(_OLDEST.scalar_subquery()))
    .returning(inbox.c.message_id)
)
_REMEMBER = (
    sa.update(inbox)
    .where(inbox.c.message_id == sa.bindparam("claimed_id"))
    .values(result=sa.bindparam("claimed_result"))
)
