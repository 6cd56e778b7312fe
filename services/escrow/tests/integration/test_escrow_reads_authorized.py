"""Who may read what (issue 12 point 5): every read API once answered anyone. An escrow and a
contract are their employer's and contractor's (and admins'); the ledger totals are the admins'
and the operator's; anyone else gets what an unknown id gets, and no token gets 401."""

from __future__ import annotations

import pytest
from shared.contract.base import Actor, Role
from shared.testing.reads import ADMIN, reading

pytestmark = pytest.mark.integration

EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
CONTRACTOR = Actor(user_id="con-1", role=Role.CONTRACTOR)
OUTSIDER = Actor(user_id="emp-9", role=Role.EMPLOYER)
POSING = Actor(user_id="emp-1", role=Role.OPERATOR)  # a user id of a party, another role
OPERATOR = Actor(user_id="ops-reconcile", role=Role.OPERATOR)

READS = {
    "/escrows/esc-1": {EMPLOYER: 200, CONTRACTOR: 200, ADMIN: 200, OUTSIDER: 404, OPERATOR: 404},
    "/contracts/c-1": {EMPLOYER: 200, CONTRACTOR: 200, ADMIN: 200, OUTSIDER: 404, OPERATOR: 404},
    "/ledger/totals": {EMPLOYER: 404, CONTRACTOR: 404, ADMIN: 200, OUTSIDER: 404, OPERATOR: 200},
}


async def test_each_reader_sees_only_what_is_theirs(market):
    await market.contract()
    assert (await market.escrow("esc-1", 400_000)).accepted
    key = market.client.private_key_pem
    for path, answers in READS.items():
        for actor, status in {**answers, POSING: 404 if path != "/ledger/totals" else 200}.items():
            async with reading(market.service.app(), key, actor) as http:
                answer = await http.get(path)
            assert answer.status_code == status, (path, actor, answer.text)
    # another's escrow is answered exactly as one that does not exist
    async with reading(market.service.app(), key, OUTSIDER) as http:
        theirs, missing = await http.get("/escrows/esc-1"), await http.get("/escrows/esc-404")
    assert theirs.json() == {**missing.json(), "escrow_id": "esc-1"}


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer not-a-token", "Basic ZW1wLTE6cHc=", "bearer  "],
    ids=["none", "empty", "garbage", "basic", "blank"],
)
async def test_a_read_without_a_valid_token_is_401(market, authorization):
    await market.contract()
    async with reading(market.service.app(), market.client.private_key_pem) as http:
        headers = {"authorization": authorization} if authorization else {}
        http.auth = None
        answer = await http.get("/contracts/c-1", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    assert answer.headers["www-authenticate"].startswith("Bearer")
