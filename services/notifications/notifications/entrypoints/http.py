"""The delivery log's read API: `GET /deliveries?event_id=&user_id=&status=&limit=` and
`GET /deliveries/{id}`. Read-only; `escrowctl notifications` reads it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.db import Database
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from notifications.views import delivery_entry, delivery_log

MAX_LIMIT = 500


def routes(db: Database) -> list[BaseRoute]:
    async def list_deliveries(request: Request) -> Response:
        params = request.query_params
        try:
            limit = min(int(params.get("limit", "100")), MAX_LIMIT)
        except ValueError:
            return _json({"error": "limit must be an integer"}, 400)
        async with db.transaction() as session:
            found = await delivery_log(
                session,
                event_id=params.get("event_id"),
                user_id=params.get("user_id"),
                status=params.get("status"),
                limit=limit,
            )
        return _json({"deliveries": found})

    async def one_delivery(request: Request) -> Response:
        async with db.transaction() as session:
            found = await delivery_entry(session, request.path_params["delivery_id"])
        if found is None:
            return _json({"error": "no such delivery"}, 404)
        return _json(found)

    return [
        Route("/deliveries", list_deliveries, methods=["GET"]),
        Route("/deliveries/{delivery_id:int}", one_delivery, methods=["GET"]),
    ]


def _json(content: Any, status: int = 200) -> Response:
    return JSONResponse(json.loads(json.dumps(content, default=_plain)), status)


def _plain(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
