"""Forged events fund nothing, freeze nothing, settle nothing (issue 12 point 4): the escrow
service takes `payment-received` only from payments and the dispute events only from disputes,
signed with their keys; a forgery is dead-lettered with its reason and moves no money."""

from __future__ import annotations

import pytest
from shared.contract.registry import dlq
from shared.testing.events import forgeries

pytestmark = pytest.mark.integration


async def test_forged_payments_received_fund_no_escrow(market):
    """Every kind of forgery, one after the other on the escrow's key, then the genuine one."""
    await market.contract()
    assert (await market.escrow("esc-1", 400_000)).accepted
    forged = forgeries(market.payment("esc-1", 400_000))
    for envelope, _ in forged.values():
        await market.client.publish("payment-received", envelope.encode(), key="esc-1")

    dead = await market.watcher.wait_for(
        lambda: (
            len(market.watcher.on(dlq("payment-received"))) >= len(forged)
            and market.watcher.on(dlq("payment-received"))
        )
    )
    reasons = [dict(record.headers)["x-dlq-reason"].decode() for record in dead]
    assert reasons == [reason for _, reason in forged.values()]
    assert market.latest("esc-1").state == "awaiting_payment"
    # the genuine payment, behind the forgeries on its key, funds it
    await market.publish(market.payment("esc-1", 400_000))
    await market.state("esc-1", "funded")
    assert (await market.read("/escrows/esc-1")).json()["escrow"]["funded_amount"] == 400_000
