"""Who may read what at payments (issue 12 point 5): payments (with their gateway session
token), refunds (with the payment's), payouts and wallets once answered anyone. Each is its
owner's (and admins'); the ledger totals are the admins' and the operator's."""

import pytest
from payments.testing.harness import PaymentsHarness
from shared.contract.base import Actor, Role
from shared.testing.reads import ADMIN, reading

pytestmark = pytest.mark.integration

EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
CONTRACTOR = Actor(user_id="con-1", role=Role.CONTRACTOR)
OUTSIDER = Actor(user_id="emp-9", role=Role.EMPLOYER)
OPERATOR = Actor(user_id="ops-reconcile", role=Role.OPERATOR)


async def test_each_reader_sees_only_what_is_theirs(payments: PaymentsHarness):
    payment_id = await payments.fund(100_000, escrow_id="esc-a")
    reads = {
        f"/payments/{payment_id}": {EMPLOYER: 200, ADMIN: 200, CONTRACTOR: 404, OUTSIDER: 404},
        "/wallets/con-1": {CONTRACTOR: 200, ADMIN: 200, EMPLOYER: 404, OUTSIDER: 404},
        "/ledger/totals": {OPERATOR: 200, ADMIN: 200, EMPLOYER: 404, CONTRACTOR: 404},
        "/reconciliation/gateways": {OPERATOR: 200, ADMIN: 200, EMPLOYER: 404, CONTRACTOR: 404},
    }
    key = payments.client.private_key_pem or ""
    app = payments.service.app()
    for path, answers in reads.items():
        for actor, status in {**answers, OPERATOR: answers.get(OPERATOR, 404)}.items():
            async with reading(app, key, actor) as http:
                answer = await http.get(path)
            assert answer.status_code == status, (path, actor, answer.text)
            # as an unknown id is answered
            if status == 404 and path not in ("/ledger/totals", "/reconciliation/gateways"):
                assert answer.json() == {"error": "not_found"}
    async with reading(app, key) as http:
        http.auth = None
        assert (await http.get(f"/payments/{payment_id}")).status_code == 401
        assert (await http.get("/wallets/con-1")).status_code == 401
