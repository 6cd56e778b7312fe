"""Forged events fund nothing, freeze nothing, settle nothing (issue 12 point 4): the escrow
service takes `payment-received` only from payments and the dispute events only from disputes,
signed with their keys; a forgery is dead-lettered with its reason and moves no money."""

from __future__ import annotations

import pytest
from shared.contract.registry import dlq
from shared.testing.events import FORGERIES, forgeries

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_payment_received_funds_no_escrow(market, forgery):
    await market.contract()
    assert (await market.escrow("esc-1", 400_000)).accepted
    envelope, reason = forgeries(market.payment("esc-1", 400_000))[forgery]
    await market.client.publish("payment-received", envelope.encode(), key="esc-1")

    dead = await market.watcher.wait_for(lambda: market.watcher.on(dlq("payment-received")))
    headers = dict(dead[0].headers)
    assert headers["x-dlq-reason"] == reason.encode(), headers
    assert market.latest("esc-1").state == "awaiting_payment"
    # the genuine payment, behind the forgery on its key, funds it
    await market.publish(market.payment("esc-1", 400_000))
    await market.state("esc-1", "funded")
    assert (await market.read("/escrows/esc-1")).json()["escrow"]["funded_amount"] == 400_000
