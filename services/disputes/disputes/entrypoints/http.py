"""The disputes read API (next to /metrics): one dispute with its full timeline, and searches.

GET /disputes/{dispute_id}
GET /disputes?escrow_id=…&party=…&arbiter=…&state=…&limit=…  (every given filter must match)
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from shared.db import Database
from shared.http import answers_bad_input, path_id, query_limit, query_text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from disputes.adapters import queries


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable_python(body), status)


def _filter(request: Request) -> queries.DisputeFilter:
    return queries.DisputeFilter(
        escrow_id=query_text(request, "escrow_id"),
        party=query_text(request, "party"),
        arbiter=query_text(request, "arbiter"),
        state=query_text(request, "state"),
        limit=query_limit(request),
    )


def routes(db: Database) -> list[Route]:
    @answers_bad_input
    async def dispute(request: Request) -> JSONResponse:
        dispute_id = path_id(request, "dispute_id")
        async with db.transaction() as session:
            found = await queries.dispute(session, dispute_id)
        if found is None:
            return _json({"error": "not_found", "dispute_id": dispute_id}, 404)
        return _json(found)

    @answers_bad_input
    async def search(request: Request) -> JSONResponse:
        where = _filter(request)
        async with db.transaction() as session:
            return _json({"disputes": await queries.summaries(session, where)})

    return [Route("/disputes/{dispute_id}", dispute), Route("/disputes", search)]
