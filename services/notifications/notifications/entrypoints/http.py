"""The delivery log's read API: `GET /deliveries?event_id=&user_id=&status=&limit=` and
`GET /deliveries/{id}`. Read-only; `escrowctl notifications` reads it. The id is taken as text and
read by `shared.http`, so that an id no delivery can have (beyond bigint, not a number) is
answered 404 in JSON like any other.

Each read names its reader (`shared.http.reader`): a person sees the deliveries to them (a list
asked for someone else's is empty), an admin sees all."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.db import Database
from shared.http import Readers, answers_bad_input, path_integer_id, query_limit, query_text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from notifications.views import delivery_entry, delivery_log


def routes(db: Database, readers: Readers) -> list[BaseRoute]:
    @answers_bad_input
    async def list_deliveries(request: Request) -> Response:
        who = readers.of(request)
        event_id, user_id = query_text(request, "event_id"), query_text(request, "user_id")
        status, limit = query_text(request, "status"), query_limit(request)
        if not who.is_admin:
            if user_id not in (None, who.actor.user_id):
                return _json({"deliveries": []})
            user_id = who.actor.user_id
        async with db.transaction() as session:
            found = await delivery_log(
                session, event_id=event_id, user_id=user_id, status=status, limit=limit
            )
        return _json({"deliveries": found})

    @answers_bad_input
    async def one_delivery(request: Request) -> Response:
        who = readers.of(request)
        delivery_id = path_integer_id(request, "delivery_id")
        async with db.transaction() as session:
            found = await delivery_entry(session, delivery_id)
        if found is None or not who.sees(found["user_id"]):
            return _json({"error": "not_found", "delivery_id": delivery_id}, 404)
        return _json(found)

    return [
        Route("/deliveries", list_deliveries, methods=["GET"]),
        Route("/deliveries/{delivery_id}", one_delivery, methods=["GET"]),
    ]


def _json(content: Any, status: int = 200) -> Response:
    return JSONResponse(json.loads(json.dumps(content, default=_plain)), status)


def _plain(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
