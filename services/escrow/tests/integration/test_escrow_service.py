"""The escrow service end to end over the real broker and database: commands in on
`escrow-commands`, events in from payments and disputes, snapshots and results out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from escrow.entrypoints.app import build
from prometheus_client import REGISTRY
from shared.clock import SystemClock
from shared.contract import disputes as disputes_wire
from shared.contract import escrow as wire
from shared.contract.disputes import VerdictKind
from shared.testing.harness import running

pytestmark = pytest.mark.integration

EMPLOYER_2 = {"user_id": "emp-2", "role": "employer"}


def dispute_event(model, escrow_id: str, dispute_id: str, **extra):
    return model(
        dispute_id=dispute_id,
        escrow_id=escrow_id,
        employer_id="emp-1",
        contractor_id="con-1",
        state="pending",
        version=1,
        **extra,
    )


def opened(escrow_id: str, dispute_id: str):
    return dispute_event(
        disputes_wire.DisputeOpened,
        escrow_id,
        dispute_id,
        opened_by="con-1",
        opened_by_role="contractor",
        reason="not_released",
    )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_agreed_escrow_from_creation_to_release_in_two_parts(market):
    released_before = sample("escrow_suite_released_amount_total", currency="IRR")
    delivered_before = sample(
        "escrow_suite_escrow_transitions_total", from_state="funded", to_state="delivered"
    )
    await market.contract(agreed=1_000_000)
    assert (await market.escrow("e-1", 600_000)).accepted
    assert (await market.state("e-1", "awaiting_payment")).payment_due_at is not None
    await market.publish(market.payment("e-1", 600_000))
    assert (await market.state("e-1", "funded")).held == 600_000

    do, employer, contractor = market.do, market.employer, market.contractor
    assert (await do(wire.DeliverWork(actor=contractor, escrow_id="e-1", note="v1"))).accepted
    assert (await do(wire.RequestChanges(actor=employer, escrow_id="e-1", note="fix"))).accepted
    await market.state("e-1", "funded")
    assert (await do(wire.DeliverWork(actor=contractor, escrow_id="e-1", note="v2"))).accepted
    assert (await do(wire.ReleaseEscrow(actor=employer, escrow_id="e-1", amount=200_000))).accepted
    part = await market.state("e-1", "delivered")
    assert (part.held, part.released_amount, part.fees_charged) == (400_000, 200_000, 20_000)
    assert (await do(wire.ReleaseEscrow(actor=employer, escrow_id="e-1"))).accepted
    done = await market.state("e-1", "released")
    assert (done.held, done.released_amount, done.fees_charged) == (0, 600_000, 60_000)

    releases = market.events("escrow-released", "e-1")
    assert [(r["gross"], r["fee"], r["net"]) for r in releases] == [
        (200_000, 20_000, 180_000),
        (400_000, 40_000, 360_000),
    ]
    versions = [s.version for s in market.snapshots("e-1")]
    assert versions == list(range(1, len(versions) + 1))  # one per change, none skipped

    view = (await market.read("/escrows/e-1")).json()
    assert view["escrow"]["state"] == "released"
    assert [h["type"] for h in view["history"]][-1] == "escrow.EscrowReleased.v1"
    assert sum(entry["amount"] for entry in view["ledger"]) == 0
    totals = (await market.read("/ledger/totals")).json()["currencies"]["IRR"]
    assert totals == {"psp": -600_000, "escrow": 0, "contractor": 540_000, "platform": 60_000}

    assert sample("escrow_suite_released_amount_total", currency="IRR") - released_before == 600_000
    assert (
        sample("escrow_suite_escrow_transitions_total", from_state="funded", to_state="delivered")
        - delivered_before
        == 2
    )
    exposed = (await market.read("/metrics")).text
    assert "escrow_suite_money_held" in exposed and "escrow_suite_command_results_total" in exposed


async def money_held_becomes(amount: int, currency: str = "IRR") -> None:
    """Wait for the gauge's own loop (every `metrics_refresh_s`) to show `amount`."""
    async with asyncio.timeout(20):
        while sample("escrow_suite_money_held", currency=currency) != amount:
            await asyncio.sleep(0.02)


async def test_the_money_held_gauge_is_what_the_funded_escrows_hold(market):
    await market.contract(agreed=None)
    do, employer, contractor = market.do, market.employer, market.contractor
    await market.funded("h-1", 612_345)
    await market.funded("h-2", 301_000, delivered=True)
    assert (await do(wire.ReleaseEscrow(actor=employer, escrow_id="h-1", amount=12_345))).accepted
    await market.wait_events("escrow-released", "h-1")
    ids = ("h-1", "h-2")

    await money_held_becomes(600_000 + 301_000)
    held = [snapshot.held for snapshot in map(market.latest, ids) if snapshot]
    assert sum(held) == 901_000
    totals = (await market.read("/ledger/totals")).json()["currencies"]["IRR"]
    assert totals["escrow"] == 901_000  # the audit view, from the whole ledger, agrees

    assert (await do(wire.ReleaseEscrow(actor=employer, escrow_id="h-1"))).accepted
    assert (await do(wire.RefundEscrow(actor=contractor, escrow_id="h-2"))).accepted
    await market.state("h-1", "released")
    await market.state("h-2", "refunded")

    await money_held_becomes(0)  # nothing held is 0, not the last amount seen
    totals = (await market.read("/ledger/totals")).json()["currencies"]["IRR"]
    assert totals["escrow"] == 0


async def test_a_request_accepted_declined_or_withdrawn(market):
    await market.contract(agreed=None)
    do, employer, contractor = market.do, market.employer, market.contractor
    for escrow_id in ("r-accept", "r-decline", "r-cancel"):
        result = await do(
            wire.RequestEscrow(
                actor=contractor,
                escrow_id=escrow_id,
                contract_id="c-1",
                kind=wire.EscrowKind.INSTANT,
                amount=5_000,
            )
        )
        assert result.accepted
        await market.state(escrow_id, "requested")
    assert (await do(wire.AcceptEscrowRequest(actor=employer, escrow_id="r-accept"))).accepted
    assert (await do(wire.DeclineEscrowRequest(actor=employer, escrow_id="r-decline"))).accepted
    assert (await do(wire.CancelEscrow(actor=contractor, escrow_id="r-cancel"))).accepted
    await market.state("r-accept", "awaiting_payment")
    await market.state("r-decline", "declined")
    await market.state("r-cancel", "cancelled")
    assert (await do(wire.CancelEscrow(actor=employer, escrow_id="r-accept"))).accepted
    cancelled = await market.wait_events("escrow-cancelled", "r-accept")
    assert cancelled[0]["cause"] == "employer"


async def test_refunds_by_the_contractor_and_a_mixed_end_is_settled(market):
    await market.contract()
    await market.funded("e-mix", 100_000, delivered=True)
    do = market.do
    assert (
        await do(wire.RefundEscrow(actor=market.contractor, escrow_id="e-mix", amount=30_000))
    ).accepted
    assert (await do(wire.ReleaseEscrow(actor=market.employer, escrow_id="e-mix"))).accepted
    settled = await market.state("e-mix", "settled")
    assert (settled.refunded_amount, settled.released_amount, settled.held) == (30_000, 70_000, 0)
    await market.funded("e-back", 50_000)
    assert (await do(wire.RefundEscrow(actor=market.contractor, escrow_id="e-back"))).accepted
    assert (await market.state("e-back", "refunded")).fees_charged == 0  # no fee on refunds


async def test_refusals_carry_their_reason_codes_and_change_nothing(market):
    await market.contract(agreed=100_000)
    do = market.do
    assert (await market.escrow("e-1", 60_000)).accepted
    over = await market.escrow("e-2", 40_001)
    assert (over.status, over.reason_code) == ("rejected", "exceeds_agreed_amount")
    assert (await market.escrow("e-2", 40_000)).accepted  # exactly the agreed price is fine
    await market.publish(market.payment("e-1", 60_000))
    await market.state("e-1", "funded")

    cases = [
        (wire.ReleaseEscrow(actor=market.contractor, escrow_id="e-1"), "forbidden"),
        (wire.ReleaseEscrow.model_validate({"actor": EMPLOYER_2, "escrow_id": "e-1"}), "forbidden"),
        (wire.RefundEscrow(actor=market.employer, escrow_id="e-1"), "forbidden"),
        (wire.ReleaseEscrow(actor=market.employer, escrow_id="e-1", amount=60_001), "exceeds_held"),
        (wire.RequestChanges(actor=market.employer, escrow_id="e-1"), "invalid_state"),
        (wire.DeliverWork(actor=market.contractor, escrow_id="nope"), "not_found"),
        (
            wire.ReleaseEscrow.model_validate(
                {"actor": {"user_id": "adm", "role": "admin"}, "escrow_id": "e-1"}
            ),
            "forbidden",
        ),
        (
            wire.ReleaseEscrow.model_validate(
                {"actor": {"user_id": "arb", "role": "arbiter"}, "escrow_id": "e-1"}
            ),
            "forbidden",
        ),
    ]
    for command, reason in cases:
        result = await do(command)
        assert (result.status, result.reason_code) == ("rejected", reason), command
    latest = market.latest("e-1")
    assert (latest.state, latest.held, latest.version) == ("funded", 60_000, 2)
    assert market.events("escrow-released", "e-1") == []


async def test_a_duplicated_payment_funds_once_and_a_second_payment_is_rejected(market):
    await market.contract()
    assert (await market.escrow("e-dup", 70_000)).accepted
    payment = market.payment("e-dup", 70_000)
    event_id = str(uuid.uuid4())
    await market.publish(payment, event_id=event_id)
    await market.publish(payment, event_id=event_id)  # the same message, redelivered
    await market.publish(payment)  # the same payment again, under another message id
    await market.publish(market.payment("e-dup", 70_000, payment_id="pay-other"))
    rejected = await market.wait_events("funding-rejected", "e-dup")
    assert [(r["payment_id"], r["reason_code"]) for r in rejected] == [
        ("pay-other", "already_funded")
    ]
    assert len(market.events("escrow-funded", "e-dup")) == 1
    assert market.latest("e-dup").held == 70_000


async def test_payments_that_cannot_fund_are_rejected_for_refund(market):
    await market.contract()
    assert (await market.escrow("e-cancel", 10_000)).accepted
    assert (
        await market.do(wire.CancelEscrow(actor=market.employer, escrow_id="e-cancel"))
    ).accepted
    await market.state("e-cancel", "cancelled")
    assert (await market.escrow("e-wrong", 10_000)).accepted
    await market.publish(market.payment("e-cancel", 10_000))
    await market.publish(market.payment("e-wrong", 9_999))
    await market.publish(market.payment("e-ghost", 10_000))
    for escrow_id, reason in [
        ("e-cancel", "not_awaiting_payment"),
        ("e-wrong", "amount_mismatch"),
        ("e-ghost", "not_found"),
    ]:
        rejected = await market.wait_events("funding-rejected", escrow_id)
        assert rejected[0]["reason_code"] == reason
        assert rejected[0]["amount"] in (10_000, 9_999)
    assert market.latest("e-cancel").held == 0


async def test_only_the_employer_funds_an_escrow_the_others_payments_are_rejected(market):
    rejected_before = sample("escrow_suite_funding_rejected_total", reason="payer_mismatch")
    await market.contract()
    assert (await market.escrow("e-payer", 40_000)).accepted
    await market.publish(market.payment("e-payer", 40_000, "pay-emp-2", payer_id="emp-2"))
    await market.publish(market.payment("e-payer", 40_000, "pay-con-1", payer_id="con-1"))

    rejected = await market.wait_events("funding-rejected", "e-payer", count=2)
    assert sorted((r["payment_id"], r["reason_code"], r["amount"]) for r in rejected) == [
        ("pay-con-1", "payer_mismatch", 40_000),
        ("pay-emp-2", "payer_mismatch", 40_000),
    ]
    assert market.events("escrow-funded", "e-payer") == []
    waiting = market.latest("e-payer")
    assert (waiting.state, waiting.held, waiting.payment_id) == ("awaiting_payment", 0, None)

    await market.publish(market.payment("e-payer", 40_000))
    funded = await market.state("e-payer", "funded")
    assert (funded.held, funded.payment_id) == (40_000, "pay-e-payer")
    assert len(market.events("funding-rejected", "e-payer")) == 2
    ledger = (await market.read("/escrows/e-payer")).json()["ledger"]
    assert {e["account"] for e in ledger} == {"escrow:e-payer", "psp:pay-e-payer"}
    after = sample("escrow_suite_funding_rejected_total", reason="payer_mismatch")
    assert after - rejected_before == 2


async def test_dispute_freezes_verdict_settles_with_fee_on_the_contractor_share(market):
    await market.contract()
    await market.funded("e-d", 100_000, delivered=True)
    await market.publish(opened("e-d", "d-1"))
    await market.wait_events("escrow-disputed", "e-d")
    frozen = await market.do(wire.ReleaseEscrow(actor=market.employer, escrow_id="e-d"))
    assert frozen.reason_code == "invalid_state"
    await market.publish(
        dispute_event(
            disputes_wire.VerdictIssued,
            "e-d",
            "d-1",
            kind=VerdictKind.ARBITRATION,
            contractor_amount=60_000,
            employer_amount=40_000,
            currency="IRR",
        )
    )
    settled = (await market.wait_events("escrow-settled", "e-d"))[0]
    assert (
        settled["contractor_amount"],
        settled["fee"],
        settled["contractor_net"],
        settled["employer_amount"],
    ) == (60_000, 10_000, 50_000, 40_000)
    assert (await market.state("e-d", "settled")).held == 0


async def test_a_withdrawn_dispute_unfreezes_and_release_works_again(market):
    await market.contract()
    await market.funded("e-w", 100_000, delivered=True)
    await market.publish(opened("e-w", "d-w"))
    await market.state("e-w", "disputed")
    await market.publish(dispute_event(disputes_wire.DisputeWithdrawn, "e-w", "d-w"))
    await market.state("e-w", "delivered")
    assert (await market.do(wire.ReleaseEscrow(actor=market.employer, escrow_id="e-w"))).accepted
    await market.state("e-w", "released")


async def test_release_and_dispute_arriving_together_have_exactly_one_winner(market):
    await market.contract(agreed=None)
    rounds = 8
    for n in range(rounds):
        escrow_id, dispute_id = f"race-{n}", f"d-race-{n}"
        await market.funded(escrow_id, 100_000, delivered=True)
        release = wire.ReleaseEscrow(actor=market.employer, escrow_id=escrow_id)
        sends = [market.do(release), market.publish(opened(escrow_id, dispute_id))]
        if n % 2:
            sends.reverse()
        results = await asyncio.gather(*sends)
        released = next(r for r in results if not isinstance(r, str))
        answer = await market.watcher.wait_for(
            lambda e=escrow_id: (
                market.events("escrow-disputed", e) or market.events("escrow-dispute-rejected", e)
            )
        )
        dispute_won = bool(market.events("escrow-disputed", escrow_id))
        assert released.accepted != dispute_won, (n, released, answer)
        if not released.accepted:
            assert released.reason_code == "invalid_state"
        latest = await market.state(escrow_id, "disputed" if dispute_won else "released")
        assert latest.held + latest.released_amount == 100_000


async def test_a_timer_due_while_the_service_is_down_fires_once_after_restart(
    market, escrow_settings, clock
):
    await market.contract()
    assert (await market.escrow("e-late", 10_000)).accepted
    await market.state("e-late", "awaiting_payment")
    await market.service.app().stop()  # the service goes down…
    clock.advance(timedelta(hours=2))  # …and the payment deadline passes meanwhile
    for _ in range(2):  # two restarts: the timer must fire on the first, never again
        async with running(build(escrow_settings, clock=clock)):
            expired = await market.wait_events("escrow-cancelled", "e-late")
            await asyncio.sleep(0.5)
    assert len(expired) == 1 and len(market.events("escrow-cancelled", "e-late")) == 1
    assert expired[0]["cause"] == "payment_expired"


async def test_a_timer_fires_at_its_due_time_not_at_the_next_poll(market, escrow_settings):
    """The timer loop sleeps until the next timer is due, and a command that schedules an
    earlier one wakes it: with an hour between its safety rounds, an expiry due in one second
    still fires (a loop that only polled would sleep the hour)."""
    await market.service.app().stop()
    settings = escrow_settings.model_copy(
        update={"timer_max_idle_ms": 3_600_000, "payment_expiry_s": 1}
    )
    async with running(build(settings, clock=SystemClock())):
        await asyncio.sleep(0.2)  # the loop's first round has found nothing and sleeps
        await market.contract()
        assert (await market.escrow("e-soon", 10_000)).accepted
        expired = await market.wait_events("escrow-cancelled", "e-soon")
    assert expired[0]["cause"] == "payment_expired"
