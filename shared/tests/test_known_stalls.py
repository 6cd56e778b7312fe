"""Two kinds of command stall a consumer today (found by `make fuzz`; `KNOWN_STALLS` in
`shared.fuzz.expect`): one whose CloudEvents id holds a NUL (PostgreSQL refuses it in the inbox),
one whose data holds a lone surrogate (`inbox.fingerprint` cannot encode it). The handling fails,
and so does the `internal_error` answer of `Runtime._fail_for_good`: its `PermanentFailure` leaves
`receive_batch`, the batch is fetched again, forever, and its key's later commands are never
answered (each round dead-letters the batch's bad records again).

Strict expected failures, so that the fix shows: once they pass, drop the markers, the
`--skip-known-stalls` of `tests/test_fuzz_smoke.py` and `KNOWN_STALLS`.
"""

from __future__ import annotations

import json

import pytest
from shared.client import SuiteClient
from shared.contract.base import Actor, Role
from shared.contract.escrow import OpenContract
from shared.testing.fixtures import KeyPair
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import create_tables, probe_service

pytestmark = pytest.mark.integration

EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)
#: long enough for a healthy probe to answer (it does in well under a second), short enough
#: that the expected failure costs little
PATIENCE = 20.0


def open_contract(contract_id: str) -> OpenContract:
    return OpenContract(
        actor=EMPLOYER, contract_id=contract_id, contractor_id="con-1", currency="IRR"
    )


@pytest.fixture
async def probe(infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        yield service


def _with_nul_id(client: SuiteClient, contract_id: str) -> bytes:
    event = client.envelope(open_contract(contract_id))
    return event.model_copy(update={"id": f"{event.id}\x00"}).encode()


def _with_lone_surrogate(client: SuiteClient, contract_id: str) -> bytes:
    document = json.loads(client.envelope(open_contract(contract_id)).encode())
    document["data"]["x_note"] = "\udc80"  # a valid JSON escape, not a valid character
    return json.dumps(document).encode()


@pytest.mark.xfail(strict=True, reason="known stall, reported with issue 12 (make fuzz)")
@pytest.mark.parametrize("hostile", [_with_nul_id, _with_lone_surrogate])
async def test_a_command_behind_an_unanswerable_one_is_still_answered(
    probe, client: SuiteClient, hostile
):
    await client.publish("escrow-commands", hostile(client, "c-bad"), key="c-1")
    after = await client.send(open_contract("c-1"))  # same key: same partition, behind it

    result = await client.watcher.result_of(after.id, PATIENCE)
    assert result.accepted
