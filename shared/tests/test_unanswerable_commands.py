"""A command the runtime can neither handle nor answer must not stall its partition.

`make fuzz` found two that did: a command whose CloudEvents id holds a NUL (PostgreSQL refuses it
in the inbox) and one whose data holds a lone surrogate (`inbox.fingerprint` cannot encode it).
The handling failed, then so did the `internal_error` answer of `Runtime._fail_for_good`; its
`PermanentFailure` left `receive_batch`, the batch was fetched again forever, and every later
command of its key waited. Now `envelope.decode` refuses both (`not_cloudevent`, before anything
is written), and `_fail_for_good` dead-letters a record whose answer cannot be stored instead of
raising. Each test here failed (timed out) on the code before.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from shared.client import SuiteClient
from shared.contract.envelope import EnvelopeError, decode
from shared.contract.escrow import OpenContract
from shared.contract.registry import COMMAND_RESULTS
from shared.contract.results import ReasonCode
from shared.messaging import inbox
from shared.testing.fixtures import KeyPair
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import (
    POISON_AMOUNT,
    create_tables,
    open_contract,
    probe_service,
)

#: generous: the machine is shared and slow at times; nothing asserts on time
PATIENCE = 60.0


def _with_nul_id(client: SuiteClient, contract_id: str) -> bytes:
    event = client.envelope(open_contract(contract_id))
    return event.model_copy(update={"id": f"{event.id}\x00"}).encode()


def _with_lone_surrogate(client: SuiteClient, contract_id: str) -> bytes:
    document = json.loads(client.envelope(open_contract(contract_id)).encode())
    document["data"]["x_note"] = "\udc80"  # a valid JSON escape, not a valid character
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"id": "a\\u0000b"}', "NUL"),
        (b'{"data": {"deep": [{"k": "\\u0000"}]}}', "NUL"),
        (b'{"data": {"\\u0000": 1}}', "NUL"),
        (b'{"data": {"note": "\\udc80"}}', "lone surrogate"),
        (b'{"data": ["ok", "\\ud800x"]}', "lone surrogate"),
    ],
)
def test_a_string_no_database_can_store_is_not_a_cloudevent(raw: bytes, says: str):
    with pytest.raises(EnvelopeError) as refused:
        decode(raw)
    assert refused.value.reason == "not_cloudevent"
    assert says in str(refused.value)


def test_a_real_character_outside_the_basic_plane_is_kept():
    # a surrogate *pair* in JSON is one character (here U+1F600): not refused for being one
    with pytest.raises(EnvelopeError) as refused:
        decode('{"data": {"note": "\\ud83d\\ude00 سلام"}}'.encode())
    assert refused.value.reason == "not_cloudevent"
    assert "surrogate" not in str(refused.value) and "NUL" not in str(refused.value)


@pytest.mark.integration
@pytest.mark.parametrize("hostile", [_with_nul_id, _with_lone_surrogate])
async def test_a_command_behind_an_unstorable_one_is_still_answered(
    infra: TestInfra,
    database_url: str,
    topic_prefix: str,
    actor_keys: KeyPair,
    client: SuiteClient,
    hostile,
):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        await client.publish("escrow-commands", hostile(client, "c-bad"), key="c-1")
        after = await client.send(open_contract("c-1"))  # same key: same partition, behind it

        result = await client.watcher.result_of(after.id, PATIENCE)
    assert result.accepted


@pytest.mark.integration
async def test_a_command_whose_internal_error_answer_cannot_be_stored_does_not_stall_its_key(
    infra: TestInfra,
    database_url: str,
    topic_prefix: str,
    actor_keys: KeyPair,
    client: SuiteClient,
    monkeypatch: pytest.MonkeyPatch,
):
    remember = inbox.remember_results

    async def refusing_internal_errors(session: Any, results: Any) -> None:
        if any(r.get("reason_code") == ReasonCode.INTERNAL_ERROR.value for _, r in results):
            raise ValueError("this answer cannot be stored")  # not transient: given up
        await remember(session, results)

    monkeypatch.setattr(inbox, "remember_results", refusing_internal_errors)
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        poison = client.envelope(open_contract("c-poison", agreed=POISON_AMOUNT))
        after = client.envelope(open_contract("c-after"))
        for event in (poison, after):  # one key: one partition, the second behind the first
            await client.publish(OpenContract.TOPIC, event.encode(), key="c-1")

        result = await client.watcher.result_of(after.id, PATIENCE)
        assert result.accepted
        answers = client.watcher.events(COMMAND_RESULTS)
        assert not [a for a in answers if a.data.get("command_id") == poison.id]  # none stored
