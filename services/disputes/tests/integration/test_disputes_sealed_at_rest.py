"""What the parties wrote is sealed at rest (issue 12 point 9): the disputes database holds no
statement in the clear, the read API and the next change still see it whole."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from disputes.adapters.tables import disputes
from shared.contract import disputes as wire
from shared.sealing import PREFIX

pytestmark = pytest.mark.integration

SECRET = "my phone is 0912 345 6789 and the client's address is 12 Azadi St"


async def _stored(suite, dispute_id: str) -> object:
    async with suite.disputes.db.transaction() as session:
        return await session.scalar(
            sa.select(disputes.c.snapshot).where(disputes.c.dispute_id == dispute_id)
        )


async def test_a_dispute_is_sealed_in_the_database_and_read_and_changed_whole(suite):
    await suite.funded("e-s", 100_000, delivered=True)
    opening = suite.open("d-s", "e-s").model_copy(update={"statement": SECRET})
    assert (await suite.do(opening)).accepted
    await suite.dispute_state("d-s", "negotiation")

    stored = await _stored(suite, "d-s")
    assert isinstance(stored, str) and stored.startswith(PREFIX)
    assert "0912" not in stored and "Azadi" not in stored

    # a change loads the sealed snapshot, and saves it sealed again
    answer = wire.SubmitStatement(actor=suite.employer, dispute_id="d-s", text="Not delivered.")
    assert (await suite.do(answer)).accepted
    await suite.wait_events("statement-submitted", "d-s")
    read = (await suite.read(suite.disputes, "/disputes/d-s")).json()["dispute"]
    assert [s["text"] for s in read["statements"]] == [SECRET, "Not delivered."]
    assert (await _stored(suite, "d-s")) != stored
    assert str(await _stored(suite, "d-s")).startswith(PREFIX)
