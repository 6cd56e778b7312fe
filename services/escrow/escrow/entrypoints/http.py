"""The escrow read API (next to /metrics): an escrow with its ledger and history, a contract's
escrows, and ledger totals per currency for reconciliation.

Each read names its reader (`shared.http.reader`): an escrow and a contract are seen by their
employer and contractor (and admins), the totals by admins and the operator role."""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python
from shared.db import Database
from shared.http import Readers, answers_bad_input, path_id
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from escrow.adapters import queries, wire
from escrow.adapters.repository import EscrowRepository


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(to_jsonable_python(body), status)


def routes(db: Database, readers: Readers) -> list[Route]:
    @answers_bad_input
    async def escrow(request: Request) -> JSONResponse:
        who = readers.of(request)
        escrow_id = path_id(request, "escrow_id")
        async with db.transaction() as session:
            found = await EscrowRepository(session).get(escrow_id, lock=False)
            # another's escrow is answered as one that does not exist
            if found is None or not who.sees(found.employer_id, found.contractor_id):
                return _json({"error": "not_found", "escrow_id": escrow_id}, 404)
            records = await queries.escrow_records(session, escrow_id)
        return _json({"escrow": wire.snapshot(found).model_dump(mode="json"), **records})

    @answers_bad_input
    async def contract(request: Request) -> JSONResponse:
        who = readers.of(request)
        contract_id = path_id(request, "contract_id")
        async with db.transaction() as session:
            row = await queries.contract_row(session, contract_id)
            if row is None or not who.sees(row["employer_id"], row["contractor_id"]):
                return _json({"error": "not_found", "contract_id": contract_id}, 404)
            escrows = await EscrowRepository(session).of_contract(contract_id)
        snapshots = [wire.snapshot(e).model_dump(mode="json") for e in escrows]
        return _json({"contract": row, "escrows": snapshots})

    @answers_bad_input
    async def totals(request: Request) -> JSONResponse:
        readers.of(request).check_operator()
        async with db.transaction() as session:
            return _json({"currencies": await queries.ledger_totals(session)})

    return [
        Route("/escrows/{escrow_id}", escrow),
        Route("/contracts/{contract_id}", contract),
        Route("/contracts/{contract_id}/escrows", contract),
        Route("/ledger/totals", totals),
    ]
