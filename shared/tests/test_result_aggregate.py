"""A rejected `CommandResult` names the aggregate its command names (issue 15 point 5): before,
`aggregate_id` was null on every rejection, so an integrator could not tie a refusal of a
ReleaseEscrow to its escrow without keeping the command."""

from __future__ import annotations

import json

import pytest
from shared.client import SuiteClient
from shared.contract import registry
from shared.contract.base import Command
from shared.service import Service
from shared.testing.fixtures import KeyPair
from shared.testing.harness import running
from shared.testing.infra import TestInfra
from shared.testing.probe import create_tables, open_contract, probe_service

PATIENCE = 60.0

#: what every command's result names: the id its handler returns when it is accepted
AGGREGATES = {
    "disputes.AcceptSettlement.v1": "dispute_id",
    "disputes.AssignArbiter.v1": "dispute_id",
    "disputes.EscalateDispute.v1": "dispute_id",
    "disputes.IssueVerdict.v1": "dispute_id",
    "disputes.OpenDispute.v1": "dispute_id",
    "disputes.ProposeSettlement.v1": "dispute_id",
    "disputes.SubmitStatement.v1": "dispute_id",
    "disputes.WithdrawDispute.v1": "dispute_id",
    "escrow.AcceptEscrowRequest.v1": "escrow_id",
    "escrow.CancelEscrow.v1": "escrow_id",
    "escrow.CreateEscrow.v1": "escrow_id",
    "escrow.DeclineEscrowRequest.v1": "escrow_id",
    "escrow.DeliverWork.v1": "escrow_id",
    "escrow.OpenContract.v1": "contract_id",
    "escrow.RefundEscrow.v1": "escrow_id",
    "escrow.ReleaseEscrow.v1": "escrow_id",
    "escrow.RequestChanges.v1": "escrow_id",
    "escrow.RequestEscrow.v1": "escrow_id",
    "payments.RequestPayout.v1": "payout_id",
    "payments.RetryRefund.v1": "refund_id",
    "payments.StartPayment.v1": "payment_id",
}


def test_every_command_names_the_aggregate_its_accepted_result_carries():
    commands = {
        spec.type: spec.model
        for spec in registry.SPECS.values()
        if spec.kind == "command" and issubclass(spec.model, Command)
    }
    assert {name: model.aggregate_field() for name, model in commands.items()} == AGGREGATES


@pytest.fixture
async def probe(infra: TestInfra, database_url: str, topic_prefix: str, actor_keys: KeyPair):
    await create_tables(database_url)
    service = probe_service(
        infra.bootstrap_servers, database_url, topic_prefix, [actor_keys.public_pem]
    )
    async with running(service):
        yield service


@pytest.mark.integration
async def test_a_rejected_result_names_the_aggregate_its_command_names(
    probe: Service, client: SuiteClient
):
    refused = await client.send(open_contract("c-refused", agreed=13))  # the probe refuses 13
    malformed = json.loads(client.envelope(open_contract("c-malformed")).encode())
    malformed["data"]["agreed_amount"] = "1000"  # a string: malformed
    unnamed = json.loads(client.envelope(open_contract("c-x")).encode())
    unnamed["data"]["contract_id"] = "c" * 100_000  # not echoed back
    for document in (malformed, unnamed):
        await client.publish("escrow-commands", json.dumps(document).encode(), key="c-1")
    untokened = await client.send(open_contract("c-untokened"), token="not-a-token")

    answers = {
        name: await client.watcher.result_of(command_id, PATIENCE)
        for name, command_id in [
            ("refused", refused.id),
            ("malformed", malformed["id"]),
            ("unnamed", unnamed["id"]),
            ("untokened", untokened.id),
        ]
    }
    assert {name: (a.status, a.aggregate_id) for name, a in answers.items()} == {
        "refused": ("rejected", "c-refused"),  # before: None
        "malformed": ("rejected", "c-malformed"),
        "unnamed": ("rejected", None),
        "untokened": ("rejected", "c-untokened"),
    }
