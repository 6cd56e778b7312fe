"""Who may read a dispute (issue 12 point 5): disputes with their statements (personal data)
once answered anyone. A dispute is its employer's, its contractor's and its assigned arbiter's
(and admins'); a search finds only those; no token gets 401."""

from __future__ import annotations

import pytest
from shared.contract import disputes as wire
from shared.contract.base import Actor, Role
from shared.testing.reads import ADMIN, reading

pytestmark = pytest.mark.integration

OUTSIDER = Actor(user_id="emp-9", role=Role.EMPLOYER)
OTHER_ARBITER = Actor(user_id="arb-2", role=Role.ARBITER)


async def test_a_dispute_is_read_by_its_parties_and_its_arbiter_only(suite):
    await suite.funded("e-1", 500_000, delivered=True)
    assert (await suite.do(suite.open("d-1", "e-1"))).accepted
    await suite.dispute_state("d-1", "negotiation")
    assert (await suite.do(wire.EscalateDispute(actor=suite.employer, dispute_id="d-1"))).accepted
    assign = wire.AssignArbiter(actor=suite.admin, dispute_id="d-1", arbiter_id="arb-1")
    assert (await suite.do(assign)).accepted
    await suite.wait_events("arbiter-assigned", "d-1")

    key = suite.client.private_key_pem or ""
    app = suite.disputes.app()
    readers = {
        suite.employer: 200,
        suite.contractor: 200,
        suite.arbiter: 200,
        ADMIN: 200,
        OUTSIDER: 404,
        OTHER_ARBITER: 404,
    }
    for actor, status in readers.items():
        async with reading(app, key, actor) as http:
            one = await http.get("/disputes/d-1")
            found = (await http.get("/disputes", params={"escrow_id": "e-1"})).json()["disputes"]
        assert one.status_code == status, (actor, one.text)
        assert [d["dispute_id"] for d in found] == (["d-1"] if status == 200 else []), actor
    async with reading(app, key) as http:
        http.auth = None
        assert (await http.get("/disputes/d-1")).status_code == 401
        assert (await http.get("/disputes")).status_code == 401
