"""One marketplace action is one conversation through every service (issue 15 point 3): every
message that follows from it carries its `correlationid`, and each names the message that caused
it as `causationid`. Before, payments' PaymentReceived (sent on the gateway's callback) and
PayoutCompleted (sent by the payout worker) carried no causation and their own id as
correlation, so the chain broke at payments."""

from __future__ import annotations

from typing import Any

import pytest
from shared.contract import escrow as wire
from shared.contract.envelope import CloudEvent
from shared.contract.payments import RequestPayout

pytestmark = pytest.mark.integration

SHEBA = "IR820540102680020817909002"


async def envelope(market: Any, topic: str, **match: Any) -> CloudEvent:
    """The first envelope on `topic` whose data has the `match`ed fields (`a__b`: data.a.b)."""

    def found() -> CloudEvent | None:
        for event in market.watcher.events(topic):
            data = event.data
            if all(_get(data, key) == value for key, value in match.items()):
                return event
        return None

    event: CloudEvent = await market.watcher.wait_for(found, 60)
    return event


def _get(data: dict[str, Any], key: str) -> Any:
    for part in key.split("__"):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data


def chain(*events: CloudEvent) -> list[tuple[str | None, str | None]]:
    return [(e.correlationid, e.causationid) for e in events]


async def test_a_payment_a_release_and_a_payout_are_each_one_conversation(market):
    emp, con, escrow_id, payment_id = "cz-emp", "cz-con", "cz-e", "cz-pay"
    await market.contract("cz-c", emp, con, agreed=2_000_000)
    await market.create(escrow_id, "cz-c", emp, 2_000_000, wire.EscrowKind.AGREED)

    # StartPayment -> PaymentStarted -> (the gateway's callback) PaymentReceived -> EscrowFunded
    start = await market.ok(market.payment(escrow_id, 2_000_000, emp, payment_id))
    started = await envelope(market, "payment-started", payment_id=payment_id)
    await market.complete_at_sandbox(started.data["redirect_url"])
    received = await envelope(market, "payment-received", payment_id=payment_id)
    funded = await envelope(market, "escrow-funded", escrow__escrow_id=escrow_id)
    s = start.command_id
    assert chain(started, received, funded) == [(s, s), (s, s), (s, received.id)]  # before:
    # PaymentReceived (its own id, None), and EscrowFunded followed it into a new conversation

    # ReleaseEscrow -> EscrowReleased (-> the wallet credited, which is no message)
    await market.ok(wire.DeliverWork(actor=market.contractor(con), escrow_id=escrow_id))
    release = await market.ok(wire.ReleaseEscrow(actor=market.employer(emp), escrow_id=escrow_id))
    released = await envelope(market, "escrow-released", escrow__escrow_id=escrow_id)
    r = release.command_id
    assert chain(released) == [(r, r)]

    # RequestPayout -> (the payout worker) PayoutCompleted
    net = released.data["net"]
    payout = await market.ok(
        RequestPayout(
            actor=market.contractor(con), payout_id="cz-po", amount=net, currency="IRR", iban=SHEBA
        )
    )
    completed = await envelope(market, "payout-completed", payout_id="cz-po")
    p = payout.command_id
    assert chain(completed) == [(p, p)]  # before: (its own id, None)
    await market.reconciled()
