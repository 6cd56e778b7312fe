"""A record is a CloudEvent 1.0 or it is not executed (issue 15 point 2): `specversion` must be
there and say "1.0", and every attribute name must be lower-case letters and digits. Before, a
command without `specversion` (the model assumed "1.0") or with an attribute named `trace_id` was
executed like any other."""

from __future__ import annotations

import json

import pytest
from shared.client import SuiteClient
from shared.contract.envelope import EnvelopeError, decode
from shared.contract.registry import dlq
from shared.service import Service
from shared.testing.fixtures import KeyPair
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import count_effects, create_tables, open_contract, probe_service

#: generous: nothing asserts on time
PATIENCE = 60.0


def _event(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {
        "specversion": "1.0",
        "id": "5f0c2a34-3a0e-4b38-9d55-0b1c7d1f0a11",
        "source": "marketplace",
        "type": "escrow.OpenContract.v1",
        "time": "2026-12-01T10:00:00Z",
        "datacontenttype": "application/json",
        "data": {},
    }
    document.update(changes)
    return document


def _without(name: str) -> dict[str, object]:
    document = _event()
    del document[name]
    return document


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (_without("specversion"), "specversion must be"),
        (_event(specversion="0.3"), "specversion must be"),
        (_event(specversion=1.0), "specversion must be"),
        (_event(specversion=None), "specversion must be"),
        (_event(trace_id="t-1"), "attribute name 'trace_id'"),
        (_event(**{"X-Trace": "t"}), "attribute name 'X-Trace'"),
        (_event(**{"é": "t"}), "attribute name"),
        (_event(**{"": "t"}), "attribute name ''"),
        (_event(**{"a" * 21: "t"}), "attribute name"),
    ],
)
def test_a_record_that_is_not_a_cloudevent_1_0_is_refused(document: dict[str, object], says: str):
    with pytest.raises(EnvelopeError) as refused:
        decode(json.dumps(document).encode())
    assert refused.value.reason == "not_cloudevent"
    assert says in str(refused.value)


def test_an_extension_with_a_valid_name_is_kept():
    event = decode(json.dumps(_event(traceparent="00-ab-cd-01", x1="y", **{"a" * 20: 1})).encode())
    assert event.model_extra == {"traceparent": "00-ab-cd-01", "x1": "y", "a" * 20: 1}


@pytest.fixture
async def probe(infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        yield service


@pytest.mark.integration
@pytest.mark.parametrize("change", ["no_specversion", "other_specversion", "bad_attribute"])
async def test_a_command_that_is_not_a_cloudevent_1_0_is_dead_lettered_unexecuted(
    probe: Service, client: SuiteClient, change: str
):
    document = json.loads(client.envelope(open_contract(f"c-{change}")).encode())
    if change == "no_specversion":
        del document["specversion"]
    elif change == "other_specversion":
        document["specversion"] = "0.3"
    else:
        document["trace_id"] = "t-1"
    await client.publish("escrow-commands", json.dumps(document).encode(), key="c-1")
    behind = await client.send(open_contract("c-behind"))  # same key: behind it, answered

    assert (await client.watcher.result_of(behind.id, PATIENCE)).accepted
    dead = await client.watcher.wait_for(
        lambda: client.watcher.on(dlq("escrow-commands")), PATIENCE
    )
    assert [dict(record.headers)["x-dlq-reason"] for record in dead] == [b"not_cloudevent"]
    assert await count_effects(probe.db, "contract", f"c-{change}") == 0  # before: 1
    assert await count_effects(probe.db, "contract", "c-behind") == 1
