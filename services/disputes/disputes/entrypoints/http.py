"""The disputes read API (next to /metrics): one dispute with its full timeline, and searches.

GET /disputes/{dispute_id}
GET /disputes?escrow_id=…&party=…&arbiter=…&state=…&limit=…  (every given filter must match)

Each read names its reader (`shared.http.reader`): a dispute is seen by its employer, its
contractor and its assigned arbiter (admins see all); a search finds only those.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from shared.db import Database
from shared.http import Reader, Readers, answers_bad_input, path_id, query_limit, query_text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from disputes.adapters import queries


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable_python(body), status)


def _filter(request: Request, who: Reader) -> queries.DisputeFilter:
    return queries.DisputeFilter(
        escrow_id=query_text(request, "escrow_id"),
        party=query_text(request, "party"),
        arbiter=query_text(request, "arbiter"),
        state=query_text(request, "state"),
        limit=query_limit(request),
        visible_to=None if who.is_admin else who.actor.user_id,
    )


def _sees(who: Reader, snapshot: dict[str, Any]) -> bool:
    people = ("employer_id", "contractor_id", "arbiter_id")
    return who.sees(*(snapshot.get(p) for p in people))


def routes(db: Database, readers: Readers) -> list[Route]:
    @answers_bad_input
    async def dispute(request: Request) -> JSONResponse:
        who = readers.of(request)
        dispute_id = path_id(request, "dispute_id")
        async with db.transaction() as session:
            found = await queries.dispute(session, dispute_id)
        if found is None or not _sees(who, found["dispute"]):
            return _json({"error": "not_found", "dispute_id": dispute_id}, 404)
        return _json(found)

    @answers_bad_input
    async def search(request: Request) -> JSONResponse:
        where = _filter(request, readers.of(request))
        async with db.transaction() as session:
            return _json({"disputes": await queries.summaries(session, where)})

    return [Route("/disputes/{dispute_id}", dispute), Route("/disputes", search)]
