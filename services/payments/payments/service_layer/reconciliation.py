"""Reconciliation against the gateways (`GET /reconciliation/gateways`): each gateway's own
listing of what it took in a window, beside the payments this service recorded.

Per gateway, concurrently, bounded: its `settled` listing (`SETTLED_MAX_WINDOW`,
`SETTLED_MAX_ITEMS`, the whole listing within `SETTLED_TIMEOUT_S`), then two reads of the
payments table: every payment at that gateway with a reference the listing names (whatever its
age or status), and, for a complete listing, the payments received there that opened in the
window. The domain (`domain.reconciliation.compare`) says what differs. A payment opened in the
last `OPENING_MARGIN` of the window is not asked for in the second read: its session may have
been opened at the gateway just after the window ends. A gateway that cannot be read is
reported as such (`error`), never as a difference.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from shared.db import Database

from payments.adapters.gateways.port import SETTLED_MAX_ITEMS, SETTLED_TIMEOUT_S, Gateway
from payments.adapters.tables import payments
from payments.domain.gateway import GatewayError, Settlements
from payments.domain.reconciliation import RECEIVED, Comparison, Difference, Recorded, compare
from payments.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)

#: the most differing payments named per gateway (all are counted)
DIFFERENCES_LISTED: Final = 100
#: how much later than the suite's payment row its gateway session may be stamped
OPENING_MARGIN: Final = timedelta(minutes=5)
_LOOKUP_CHUNK: Final = 1_000


async def gateway_differences(
    deps: Dependencies, since: datetime, until: datetime
) -> dict[str, Any]:
    gateways = sorted(deps.gateways.by_name.items())
    answers = await asyncio.gather(
        *(_one_gateway(deps.db, gateway, since, until) for _, gateway in gateways)
    )
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "gateways": {name: answer for (name, _), answer in zip(gateways, answers, strict=True)},
    }


async def _one_gateway(
    db: Database, gateway: Gateway, since: datetime, until: datetime
) -> dict[str, Any]:
    try:
        async with asyncio.timeout(SETTLED_TIMEOUT_S):
            listing = await gateway.settled(since, until)
    except (GatewayError, TimeoutError) as exc:
        log.warning("could not list what %s settled: %r", gateway.name, exc)
        return {"error": str(exc) or f"no listing within {SETTLED_TIMEOUT_S:g} s"}
    recorded, suite_truncated = await _recorded(db, gateway.name, listing, since, until)
    if suite_truncated:
        listing = Settlements(listing.items, listing.complete, truncated=True)
    return _answer(listing, compare(recorded, listing))


async def _recorded(
    db: Database, gateway: str, listing: Settlements, since: datetime, until: datetime
) -> tuple[list[Recorded], bool]:
    """The suite's side; True when more payments were received in the window than one listing
    may hold (then no received payment is asked of the listing)."""
    columns = (
        payments.c.payment_id,
        payments.c.session_token,
        payments.c.status,
        payments.c.amount,
        payments.c.currency,
    )
    references = sorted({item.reference for item in listing.items})
    rows: list[Any] = []
    async with db.transaction() as session:
        for start in range(0, len(references), _LOOKUP_CHUNK):
            chunk = references[start : start + _LOOKUP_CHUNK]
            rows += (
                await session.execute(
                    sa.select(*columns).where(
                        payments.c.gateway == gateway, payments.c.session_token.in_(chunk)
                    )
                )
            ).all()
        received: list[Any] = []
        if listing.complete and not listing.truncated:
            received = list(
                (
                    await session.execute(
                        sa.select(*columns)
                        .where(
                            payments.c.gateway == gateway,
                            payments.c.status == RECEIVED,
                            payments.c.session_token.is_not(None),
                            payments.c.created_at >= since,
                            payments.c.created_at < until - OPENING_MARGIN,
                        )
                        .limit(SETTLED_MAX_ITEMS + 1)
                    )
                ).all()
            )
    truncated = len(received) > SETTLED_MAX_ITEMS
    found = {row.payment_id: row for row in [*rows, *([] if truncated else received)]}
    return [
        Recorded(r.payment_id, r.session_token, r.status, int(r.amount), r.currency)
        for r in found.values()
    ], truncated


def _answer(listing: Settlements, comparison: Comparison) -> dict[str, Any]:
    return {
        "complete": listing.complete and not listing.truncated,
        "truncated": listing.truncated,
        "settled": {c: asdict(t) for c, t in sorted(comparison.settled.items())},
        "matched": {c: asdict(t) for c, t in sorted(comparison.matched.items())},
        "differences_count": len(comparison.differences),
        "differences": [_difference(d) for d in comparison.differences[:DIFFERENCES_LISTED]],
    }


def _difference(difference: Difference) -> dict[str, Any]:
    mine, theirs = difference.recorded, difference.settled
    return {
        "kind": difference.kind,
        "payment_id": difference.payment_id,
        "reference": difference.reference,
        "recorded": None
        if mine is None
        else {"status": mine.status, "amount": mine.amount, "currency": mine.currency},
        "settled": None
        if theirs is None
        else {"amount": theirs.amount, "currency": theirs.currency},
    }
