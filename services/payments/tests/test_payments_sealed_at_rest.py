"""Payout IBANs sealed at rest (issue 12 point 9): the database holds no full account number,
the gateway still gets it, and a sealed IBAN moved to another payout does not open."""

import pytest
import sqlalchemy as sa
from payments.adapters.repository import Repository
from payments.adapters.tables import payouts
from payments.domain.iban import from_bban
from payments.domain.payout import Payout
from payments.testing.harness import PaymentsHarness
from shared.contract.base import Actor, Role
from shared.contract.payments import RequestPayout
from shared.db import Database
from shared.sealing import PREFIX, SealingError

pytestmark = pytest.mark.integration

CONTRACTOR = Actor(user_id="con-9", role=Role.CONTRACTOR)
SHEBA = from_bban("IR", "0120000000001234567890")
OTHER = from_bban("IR", "0550000000009876543210")


async def _stored_iban(db: Database, payout_id: str) -> str:
    async with db.transaction() as session:
        stored: str = await session.scalar(
            sa.select(payouts.c.iban).where(payouts.c.payout_id == payout_id)
        )
    return stored


async def test_a_payout_iban_is_sealed_in_the_database_and_paid_in_full(
    payments: PaymentsHarness,
):
    await payments.fund(50_000, payee_id=CONTRACTOR.user_id)
    command = RequestPayout(
        actor=CONTRACTOR, payout_id="po-s1", amount=30_000, currency="IRR", iban=SHEBA
    )

    assert (await payments.client.execute(command)).accepted
    await payments.wait_event("payout-completed", payout_id="po-s1")

    stored = await _stored_iban(payments.service.db, "po-s1")
    assert stored.startswith(PREFIX) and SHEBA not in stored and SHEBA[4:] not in stored
    assert payments.sandbox.state.payouts["po-s1"].destination == SHEBA  # the gateway got it whole
    assert (await payments.read("/payouts/po-s1"))["iban"] == SHEBA[:4] + "*" * 18 + SHEBA[-4:]


def _payout(payout_id: str, iban: str) -> Payout:
    return Payout(
        payout_id=payout_id,
        user_id=CONTRACTOR.user_id,
        amount=1_000,
        currency="IRR",
        iban=iban,
        gateway="sandbox",
    )


async def test_a_sealed_iban_copied_to_another_payout_does_not_open(db: Database):
    async with db.transaction() as session:
        await Repository(session).add_payout(_payout("po-a", SHEBA))
        await Repository(session).add_payout(_payout("po-b", OTHER))
    # someone with write access to the table points po-b at po-a's account
    async with db.transaction() as session:
        await session.execute(
            sa.update(payouts)
            .where(payouts.c.payout_id == "po-b")
            .values(
                iban=sa.select(payouts.c.iban)
                .where(payouts.c.payout_id == "po-a")
                .scalar_subquery()
            )
        )

    async with db.transaction() as session:
        assert (await Repository(session).get_payout("po-a")).iban == SHEBA
        with pytest.raises(SealingError, match="does not open"):
            await Repository(session).get_payout("po-b")


async def test_an_iban_stored_before_sealing_is_read_and_sealed_when_next_written(db: Database):
    async with db.transaction() as session:
        await Repository(session).add_payout(_payout("po-old", SHEBA))
        await session.execute(
            sa.update(payouts).where(payouts.c.payout_id == "po-old").values(iban=SHEBA)
        )
    async with db.transaction() as session:
        repo = Repository(session)
        old = await repo.get_payout("po-old", lock=True)
        assert old.iban == SHEBA
        await repo.save_payout(old)
    assert (await _stored_iban(db, "po-old")).startswith(PREFIX)
