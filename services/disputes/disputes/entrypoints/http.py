"""The disputes read API (next to /metrics): one dispute with its full timeline, and searches.

GET /disputes/{dispute_id}
GET /disputes?escrow_id=…&party=…&arbiter=…&state=…&limit=…  (every given filter must match)
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from shared.db import Database
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from disputes.adapters import queries

MAX_LIMIT = 500


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable_python(body), status)


def _filter(request: Request) -> queries.DisputeFilter:
    params = request.query_params
    limit = params.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return queries.DisputeFilter(
        escrow_id=params.get("escrow_id"),
        party=params.get("party"),
        arbiter=params.get("arbiter"),
        state=params.get("state"),
        limit=int(limit),
    )


def routes(db: Database) -> list[Route]:
    async def dispute(request: Request) -> JSONResponse:
        dispute_id = request.path_params["dispute_id"]
        async with db.transaction() as session:
            found = await queries.dispute(session, dispute_id)
        if found is None:
            return _json({"error": "not_found", "dispute_id": dispute_id}, 404)
        return _json(found)

    async def search(request: Request) -> JSONResponse:
        try:
            where = _filter(request)
        except ValueError as error:
            return _json({"error": "malformed", "message": str(error)}, 400)
        async with db.transaction() as session:
            return _json({"disputes": await queries.summaries(session, where)})

    return [Route("/disputes/{dispute_id}", dispute), Route("/disputes", search)]
