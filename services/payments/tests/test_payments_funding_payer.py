"""Only the escrow's employer funds it (DESIGN §8), over the real broker and both services'
databases: a payment for an escrow by anyone else is received here, refused by the escrow service
(`funding-rejected` `payer_mismatch`) and refunded in full to the payment it came from.

The payments service cannot refuse it at `StartPayment`: it does not know who an escrow's
employer is (it hears of an escrow only once money moves). The escrow service, which does, is
the guard; these tests run it beside payments.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from escrow.entrypoints.app import build as build_escrow
from escrow.settings import EscrowSettings
from payments.testing.harness import PaymentsHarness, employer
from shared.contract.base import Actor
from shared.contract.escrow import CreateEscrow, EscrowKind, OpenContract
from shared.service import Service
from shared.testing.fixtures import KeyPair
from shared.testing.harness import migrated, running, settings_for_test
from shared.testing.infra import TestInfra
from shared.testing.reads import reading

pytestmark = pytest.mark.integration

ESCROW_ID, AMOUNT = "esc-payer", 80_000
STRANGERS = [employer("emp-2"), employer("con-1")]  # the contractor under an employer's token


@pytest.fixture
async def escrow_service(
    payments: PaymentsHarness, infra: TestInfra, topic_prefix: str, actor_keys: KeyPair
) -> AsyncIterator[Service]:
    """The escrow service on its own database, started after payments migrated its own
    (alembic's context is global to the process)."""
    database_url = await migrated("escrow", await infra.new_database("escrow"))
    settings = settings_for_test(
        EscrowSettings,
        database_url=database_url,
        kafka_bootstrap_servers=infra.bootstrap_servers,
        topic_prefix=topic_prefix,
        actor_token_public_key=actor_keys.public_pem,
    )
    service = build_escrow(settings)
    async with running(service):
        yield service


async def _escrow_awaiting_payment(payments: PaymentsHarness) -> None:
    """emp-1 contracts con-1 and creates an escrow, which awaits his payment."""
    opened = await payments.client.execute(
        OpenContract(actor=employer(), contract_id="c-payer", contractor_id="con-1", currency="IRR")
    )
    created = await payments.client.execute(
        CreateEscrow(
            actor=employer(),
            escrow_id=ESCROW_ID,
            contract_id="c-payer",
            kind=EscrowKind.INSTANT,
            amount=AMOUNT,
        )
    )
    assert opened.accepted and created.accepted, (opened, created)


async def _escrow_view(escrow: Service, payments: PaymentsHarness) -> dict[str, Any]:
    async with reading(escrow.app(), payments.client.private_key_pem or "") as http:
        response = await http.get(f"/escrows/{ESCROW_ID}")
    response.raise_for_status()
    view: dict[str, Any] = response.json()
    return view


async def _accounts(payments: PaymentsHarness) -> dict[str, int]:
    accounts: dict[str, int] = (await payments.read("/ledger/totals"))["currencies"]["IRR"][
        "accounts"
    ]
    return accounts


async def _refunded_to_its_payer(payments: PaymentsHarness, payment_id: str, payer: Actor) -> None:
    rejected = await payments.wait_event("funding-rejected", payment_id=payment_id)
    assert (rejected["escrow_id"], rejected["reason_code"], rejected["amount"]) == (
        ESCROW_ID,
        "payer_mismatch",
        AMOUNT,
    )
    refund = await payments.wait_event("refund-completed", payment_id=payment_id)
    assert (refund["cause"], refund["amount"], refund["employer_id"]) == (
        "funding_rejected",
        AMOUNT,
        payer.user_id,
    )
    token = payments.sandbox.state.refunds[refund["refund_id"]].destination
    assert payments.sandbox.state.payments[token].refunded == AMOUNT  # his own payment, in full


@pytest.mark.parametrize("payer", STRANGERS, ids=["another-employer", "the-contractor"])
async def test_a_payment_by_anyone_but_the_employer_goes_back_to_its_payer(
    payments: PaymentsHarness, escrow_service: Service, payer: Actor
):
    await _escrow_awaiting_payment(payments)

    stranger = await payments.fund(AMOUNT, escrow_id=ESCROW_ID, payer=payer)

    await _refunded_to_its_payer(payments, stranger, payer)
    view = await _escrow_view(escrow_service, payments)
    assert (view["escrow"]["state"], view["escrow"]["held"], view["ledger"]) == (
        "awaiting_payment",
        0,
        [],
    )
    assert payments.events("escrow-funded") == []
    assert await _accounts(payments) == {
        "gateway-clearing": 0,
        "escrow-holding": 0,
        "refunds-in-flight": 0,
    }

    genuine = await payments.fund(AMOUNT, escrow_id=ESCROW_ID)

    funded = await payments.wait_event("escrow-funded", payment_id=genuine)
    assert (funded["escrow"]["state"], funded["escrow"]["held"]) == ("funded", AMOUNT)
    assert await _accounts(payments) == {
        "gateway-clearing": -AMOUNT,
        "escrow-holding": AMOUNT,
        "refunds-in-flight": 0,
    }
    view = await _escrow_view(escrow_service, payments)
    assert {(e["account"], e["amount"]) for e in view["ledger"]} == {
        (f"escrow:{ESCROW_ID}", AMOUNT),
        (f"psp:{genuine}", -AMOUNT),
    }
    assert len(payments.events("refund-completed")) == 1  # the employer's money stays held


async def test_a_strangers_payment_after_the_employers_is_refunded_and_leaves_his_held(
    payments: PaymentsHarness, escrow_service: Service
):
    await _escrow_awaiting_payment(payments)
    genuine = await payments.fund(AMOUNT, escrow_id=ESCROW_ID)
    await payments.wait_event("escrow-funded", payment_id=genuine)

    stranger = await payments.fund(AMOUNT, escrow_id=ESCROW_ID, payer=STRANGERS[0])

    await _refunded_to_its_payer(payments, stranger, STRANGERS[0])
    view = await _escrow_view(escrow_service, payments)
    assert (view["escrow"]["state"], view["escrow"]["payment_id"]) == ("funded", genuine)
    assert await _accounts(payments) == {
        "gateway-clearing": -AMOUNT,
        "escrow-holding": AMOUNT,
        "refunds-in-flight": 0,
    }
