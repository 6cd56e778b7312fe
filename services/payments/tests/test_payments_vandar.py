"""The Vandar payout adapter over HTTP against a local server that answers as Vandar's settlement
documentation shows: the store request in toman, settlements PENDING → DONE, FAILED, CANCELED,
the duplicate track id answer and the query by track id, a FAILED settlement cancelled before it
is declined (and a failing or lost cancel), validation errors, an empty business wallet, a bad
token, a slow or failing Vandar, and no payment API."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from payments.adapters.gateways.port import IncomingCallback
from payments.adapters.gateways.vandar import VandarGateway, track_id_for
from payments.domain.errors import CallbackRejected
from payments.domain.gateway import (
    GatewayDeclined,
    GatewayUnavailable,
    PaymentRequest,
    Transfer,
    TransferInProgress,
    UnsupportedByGateway,
)
from payments.testing.fake_vandar import FakeVandar
from shared.testing.servers import serving

BUSINESS = "escrow-suite"
TOKEN = "bPJO9cJLGRqClDadEua7ztoCLC5E"
IBAN = "IR430550011480005587452001"


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeVandar, str]]:
    vandar = FakeVandar(BUSINESS, TOKEN)
    async with serving(vandar.app()) as url:
        yield vandar, url


@pytest.fixture
def vandar(fake: tuple[FakeVandar, str]) -> FakeVandar:
    return fake[0]


@pytest.fixture
async def adapter(fake: tuple[FakeVandar, str]) -> AsyncIterator[VandarGateway]:
    gateway = VandarGateway(BUSINESS, TOKEN, api_url=fake[1], timeout=5)
    yield gateway
    await gateway.aclose()


def payout(amount: int = 1_000_000, transfer_id: str = "payout-1", iban: str = IBAN) -> Transfer:
    return Transfer(transfer_id, amount, "IRR", iban)


async def pending_settlement(adapter: VandarGateway, transfer: Transfer | None = None) -> str:
    """Send the payout (by default `payout()`): Vandar stores its settlement, PENDING until the
    bank pays it. Its track id."""
    transfer = transfer or payout()
    with pytest.raises(TransferInProgress):
        await adapter.payout(transfer)
    return track_id_for(transfer.transfer_id)


async def failed_settlement(vandar: FakeVandar, adapter: VandarGateway) -> str:
    """Send `payout()`, then Vandar's settlement of it FAILED. Its track id."""
    track_id = await pending_settlement(adapter)
    vandar.fail(track_id)
    return track_id


def stores(vandar: FakeVandar) -> list[Any]:
    return [body for method, path, body in vandar.requests if path.endswith("/store")]


def cancels(vandar: FakeVandar) -> list[str]:
    return [path for method, path, _ in vandar.requests if method == "DELETE"]


async def test_a_payout_stores_a_settlement_in_toman_under_a_track_id_of_the_transfer(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    with pytest.raises(TransferInProgress, match="PENDING"):
        await adapter.payout(payout(1_234_560))

    track_id = track_id_for("payout-1")
    assert stores(vandar) == [
        {
            "amount": 123_456,  # toman: 1 234 560 rials
            "iban": IBAN,
            "track_id": track_id,
            "description": "payout payout-1",
        }
    ]
    assert uuid.UUID(track_id).version == 5 and track_id == track_id.lower()
    assert vandar.settlements[track_id].amount_toman == 123_456


async def test_an_instant_settlement_is_paid_at_once_with_vandars_transaction_id(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    vandar.instant = True

    reference = await adapter.payout(payout())

    assert reference == str(vandar.settlements[track_id_for("payout-1")].transaction_id)


async def test_a_pending_settlement_is_in_progress_until_the_bank_has_paid_it(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    track_id = await pending_settlement(adapter)
    with pytest.raises(TransferInProgress):
        await adapter.payout(payout())  # asked again before the PAYA cycle

    vandar.complete(track_id)
    reference = await adapter.payout(payout())

    assert reference == str(vandar.settlements[track_id].transaction_id)
    assert len(vandar.settlements) == 1
    assert vandar.wallet == 10_000_000 - 100_000


async def test_a_failed_settlement_is_cancelled_then_declined_with_its_money_back(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    track_id = await failed_settlement(vandar, adapter)
    transaction_id = vandar.settlements[track_id].transaction_id
    assert vandar.wallet == 10_000_000 - 100_000  # a FAILED settlement still holds the money

    with pytest.raises(GatewayDeclined, match="FAILED and is now CANCELED"):
        await adapter.payout(payout())

    assert cancels(vandar) == [f"/v2.1/business/{BUSINESS}/settlement/{transaction_id}"]
    assert vandar.settlements[track_id].status == "CANCELED"
    assert vandar.wallet == 10_000_000  # back in the business wallet
    with pytest.raises(GatewayDeclined, match="CANCELED"):  # asked again: no second cancel
        await adapter.payout(payout())
    assert len(cancels(vandar)) == 1 and vandar.wallet == 10_000_000


async def test_an_already_cancelled_settlement_is_declined_without_cancelling(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    vandar.cancel(await pending_settlement(adapter))

    with pytest.raises(GatewayDeclined, match="CANCELED"):
        await adapter.payout(payout())
    assert cancels(vandar) == []
    assert vandar.wallet == 10_000_000


@pytest.mark.parametrize(
    ("switch", "times", "match"),
    [
        pytest.param(
            "cancel_errors",
            1,
            "cancel answered 500",
            id="a_failing_cancel_is_unavailable_and_the_retry_cancels_then_declines",
        ),
        pytest.param(
            # a 4xx whose meaning we cannot tell; the settlement stays FAILED
            "cancel_refusals",
            2,
            "did not take",
            id="a_refused_cancel_leaves_a_failed_settlement_unavailable_never_declined",
        ),
    ],
)
async def test_a_cancel_that_does_not_take_leaves_a_failed_settlement_unavailable(
    vandar: FakeVandar, adapter: VandarGateway, switch: str, times: int, match: str
) -> None:
    track_id = await failed_settlement(vandar, adapter)
    setattr(vandar, switch, times)

    for _ in range(times):
        with pytest.raises(GatewayUnavailable, match=match) as unknown:
            await adapter.payout(payout())
        assert not unknown.value.definitive
    assert vandar.settlements[track_id].status == "FAILED"
    assert vandar.wallet == 10_000_000 - 100_000  # nothing given back while not cancelled

    with pytest.raises(GatewayDeclined, match="now CANCELED"):
        await adapter.payout(payout())
    assert len(cancels(vandar)) == times + 1
    assert vandar.wallet == 10_000_000


async def test_a_cancel_whose_answer_was_lost_is_declined_when_retried_without_a_second_cancel(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    await failed_settlement(vandar, adapter)
    vandar.cancel_answers_lost = 1  # cancelled, then the answer is a 500

    with pytest.raises(GatewayUnavailable, match="500"):
        await adapter.payout(payout())
    with pytest.raises(GatewayDeclined, match="CANCELED"):
        await adapter.payout(payout())

    assert len(cancels(vandar)) == 1
    assert vandar.wallet == 10_000_000  # given back once


async def test_a_cancel_answered_already_cancelled_is_declined(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    await failed_settlement(vandar, adapter)
    vandar.cancelled_elsewhere_after_query = 1  # cancelled in the dashboard before our cancel

    with pytest.raises(GatewayDeclined, match="now CANCELED"):
        await adapter.payout(payout())

    assert len(cancels(vandar)) == 1  # answered 422 "already cancelled"
    assert vandar.wallet == 10_000_000  # given back once


async def test_concurrent_retries_of_a_failed_settlement_are_all_declined_once_cancelled(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    track_id = await failed_settlement(vandar, adapter)

    outcomes = await asyncio.gather(
        *(adapter.payout(payout()) for _ in range(3)), return_exceptions=True
    )

    # each saw FAILED and cancelled (a late cancel is refused), or saw CANCELED: money back once
    assert all(isinstance(outcome, GatewayDeclined) for outcome in outcomes), outcomes
    assert vandar.settlements[track_id].status == "CANCELED"
    assert vandar.wallet == 10_000_000


async def test_a_payout_whose_answer_timed_out_is_paid_once_when_retried(
    fake: tuple[FakeVandar, str],
) -> None:
    vandar, url = fake
    impatient = VandarGateway(BUSINESS, TOKEN, api_url=url, timeout=0.2)
    vandar.delay = 1.0

    with pytest.raises(GatewayUnavailable, match="no answer"):
        await impatient.payout(payout())
    vandar.delay = 0.0
    with pytest.raises(TransferInProgress):  # the first request was taken: its settlement
        await impatient.payout(payout())
    vandar.complete(track_id_for("payout-1"))
    reference = await impatient.payout(payout())
    await impatient.aclose()

    assert len(vandar.settlements) == 1
    assert vandar.wallet == 10_000_000 - 100_000
    assert reference == str(vandar.settlements[track_id_for("payout-1")].transaction_id)
    assert len(stores(vandar)) == 3  # each retry re-sent the same request; Vandar refused it


async def test_concurrent_duplicate_payouts_make_one_settlement(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    outcomes = await asyncio.gather(
        *(adapter.payout(payout()) for _ in range(3)), return_exceptions=True
    )

    assert all(isinstance(outcome, TransferInProgress) for outcome in outcomes)
    assert len(vandar.settlements) == 1
    assert {body["track_id"] for body in stores(vandar)} == {track_id_for("payout-1")}


async def test_different_transfers_get_different_track_ids(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    for transfer_id in ("payout-1", "payout-2"):
        await pending_settlement(adapter, payout(transfer_id=transfer_id))
    assert len(vandar.settlements) == 2


async def test_a_server_error_is_unavailable_and_the_retry_pays(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    vandar.server_errors = 1

    with pytest.raises(GatewayUnavailable, match="500"):
        await adapter.payout(payout())
    assert vandar.settlements == {}
    await pending_settlement(adapter)
    assert len(vandar.settlements) == 1


async def test_a_server_error_on_the_status_query_is_unavailable_not_a_decline(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    await failed_settlement(vandar, adapter)
    vandar.query_errors = 1  # the re-sent store is refused as a duplicate… then the query fails

    with pytest.raises(GatewayUnavailable, match="500") as unknown:
        await adapter.payout(payout())
    assert not unknown.value.definitive
    with pytest.raises(GatewayDeclined, match="FAILED and is now CANCELED"):
        await adapter.payout(payout())


async def test_a_settlement_under_our_track_id_for_another_amount_is_not_believed(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    vandar.complete(await pending_settlement(adapter, payout(1_000_000)))

    with pytest.raises(GatewayUnavailable, match="needs a person"):
        await adapter.payout(payout(2_000_000))


async def test_an_invalid_iban_is_declined_after_vandar_holds_nothing_under_the_track_id(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    with pytest.raises(GatewayDeclined, match="IBAN"):
        await adapter.payout(payout(iban="IR12"))

    assert vandar.settlements == {}
    assert [method for method, _, _ in vandar.requests] == ["POST", "GET"]


async def test_an_empty_business_wallet_is_retried_not_declined(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    vandar.wallet = 50_000

    with pytest.raises(GatewayUnavailable, match="wallet") as refused:
        await adapter.payout(payout(1_000_000))
    assert not refused.value.definitive

    vandar.wallet = 10_000_000  # topped up
    await pending_settlement(adapter, payout(1_000_000))
    assert len(vandar.settlements) == 1


@pytest.mark.parametrize(
    ("token", "business", "match"),
    [("expired", BUSINESS, "401"), (TOKEN, "someone-else", "404")],
)
async def test_a_bad_token_or_business_is_configuration_never_definitive(
    fake: tuple[FakeVandar, str], token: str, business: str, match: str
) -> None:
    vandar, url = fake
    misconfigured = VandarGateway(business, token, api_url=url, timeout=5)

    with pytest.raises(GatewayUnavailable, match=match) as refused:
        await misconfigured.payout(payout())
    await misconfigured.aclose()

    assert not refused.value.definitive
    assert vandar.settlements == {}


async def test_an_unreachable_vandar_is_unavailable() -> None:
    adapter = VandarGateway(BUSINESS, TOKEN, api_url="http://127.0.0.1:9", timeout=2)
    with pytest.raises(GatewayUnavailable):
        await adapter.payout(payout())
    await adapter.aclose()


@pytest.mark.parametrize(
    ("amount", "match"),
    [(1_000_005, "multiple of 10"), (49_990, "at least 5000 toman"), (0, "at least")],
)
async def test_an_amount_vandar_cannot_settle_is_declined_before_anything_is_sent(
    vandar: FakeVandar, adapter: VandarGateway, amount: int, match: str
) -> None:
    with pytest.raises(GatewayDeclined, match=match):
        await adapter.payout(payout(amount))
    assert vandar.requests == []


async def test_the_smallest_settlement_is_5000_toman(
    vandar: FakeVandar, adapter: VandarGateway
) -> None:
    track_id = await pending_settlement(adapter, payout(50_000))
    assert vandar.settlements[track_id].amount_toman == 5_000


async def test_vandar_pays_rials_only(vandar: FakeVandar, adapter: VandarGateway) -> None:
    with pytest.raises(UnsupportedByGateway):
        await adapter.payout(Transfer("payout-1", 1_000_000, "USD", IBAN))
    assert vandar.requests == []


def test_track_ids_are_stable_and_fit_vandars_suggested_form() -> None:
    assert track_id_for("payout-1") == track_id_for("payout-1")
    assert track_id_for("payout-1") != track_id_for("Payout-1")
    assert uuid.UUID(track_id_for("x" * 500)).version == 5


async def test_vandar_takes_no_payments_here(adapter: VandarGateway) -> None:
    request = PaymentRequest("pay-1", 10_000, "IRR", "", "http://shop.example/callback")
    with pytest.raises(UnsupportedByGateway):
        await adapter.open_payment(request)
    with pytest.raises(UnsupportedByGateway):
        await adapter.verify("t", 10_000, "IRR")
    with pytest.raises(UnsupportedByGateway):
        await adapter.inquire("t", 10_000, "IRR")
    with pytest.raises(UnsupportedByGateway):
        await adapter.refund(Transfer("refund-1", 10_000, "IRR", "t"))
    with pytest.raises(CallbackRejected):
        adapter.read_callback(IncomingCallback("GET", {}, {}))
    assert await adapter.unverified() == []
